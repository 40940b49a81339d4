// Builds Links to other room members over WebRTC, with offers/answers/candidates relayed by the signaling
// server. Both ends agree on a connection id (plan version + both peer ids) and the peer with the smaller id
// initiates, so each side calls link() on its own and they meet. A failed attempt is retried with a fresh
// RTCPeerConnection under "<id>#<attempt>"; the responder asks for a retry with a `renegotiate` signal.

import { MeshError } from "../errors.ts";
import { roomMessageBytes } from "../protocol/frame.ts";
import type { IceServer, PipelinePlan, RoomState, RtcSignal } from "../protocol/messages.ts";
import type { SignalingClient } from "../signaling/client.ts";
import type { ByteChannel } from "../transport/channel.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import { Link, type LinkOptions } from "../transport/link.ts";
import { connectPeer, type PeerConnection, type RtcOptions } from "../transport/peer-channel.ts";
import { shapeChannel, type ShapeOptions } from "../transport/shaped-link.ts";

export interface ConnectorOptions {
  client: SignalingClient;
  localId: string;
  rtc: RtcOptions;
  link?: Omit<LinkOptions, "localId" | "remoteId" | "clock">;
  clock?: Clock;
  /** Per WebRTC attempt (and for the hello once connected); a link gives up after twice this. */
  connectTimeoutMs?: number;
  /** Attempts per link before ERR_PEER_CONNECT (failed attempts usually fail within milliseconds). */
  maxAttempts?: number;
  /** Emulated latency/bandwidth on what this end sends over every link (benchmarks; off by default). */
  shape?: ShapeOptions;
}

/** A room member's link settings, as HeadNode and PeerNode take them. */
export interface MemberLinkOptions {
  rtc?: RtcOptions | undefined;
  link?: Omit<LinkOptions, "localId" | "remoteId" | "clock"> | undefined;
  clock?: Clock | undefined;
  connectTimeoutMs?: number | undefined;
  shape?: ShapeOptions | undefined;
}

/** The Connector of a member that just joined: its options, with the room's ICE servers by default. */
export function memberConnector(
  client: SignalingClient,
  joined: { peerId: string; iceServers: IceServer[] },
  o: MemberLinkOptions,
): Connector {
  return new Connector({
    client,
    localId: joined.peerId,
    rtc: { ...o.rtc, iceServers: o.rtc?.iceServers ?? joined.iceServers },
    ...(o.link === undefined ? {} : { link: o.link }),
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
    ...(o.shape === undefined ? {} : { shape: o.shape }),
  });
}

/**
 * Link options for a plan's links: the reassembly cap from the room model's maxMessageBytes (the model
 * the plan runs), unless the member set its own.
 */
export function planLinkOptions(
  state: Pick<RoomState, "model">,
  plan: Pick<PipelinePlan, "modelId">,
  own: MemberLinkOptions["link"],
): { maxMessageBytes: number } {
  const model = state.model?.id === plan.modelId ? state.model : undefined;
  return { maxMessageBytes: roomMessageBytes(model, own?.maxMessageBytes) };
}

/** "<planVersion>/<smaller id>/<larger id>": the same on both ends. */
export function connectionId(planVersion: number, a: string, b: string): string {
  return a < b ? `${planVersion}/${a}/${b}` : `${planVersion}/${b}/${a}`;
}

function splitAttempt(connId: string): { base: string; attempt: number } {
  const i = connId.lastIndexOf("#");
  const n = i < 0 ? 1 : Number(connId.slice(i + 1));
  return i < 0 || !Number.isInteger(n) || n < 1
    ? { base: connId, attempt: 1 }
    : { base: connId.slice(0, i), attempt: n };
}

const MAX_EARLY_CONNS = 64;
const MAX_EARLY_SIGNALS = 256;
/** Bytes of early signals kept for all connections together (an SDP is a few KiB). */
const MAX_EARLY_BYTES = 1024 * 1024;

function signalBytes(data: RtcSignal): number {
  if (data.type === "offer" || data.type === "answer") return 64 + data.sdp.length * 2;
  if (data.type === "candidate") return 64 + data.candidate.candidate.length * 2;
  return 64;
}

interface DialOptions {
  remoteId: string;
  initiator: boolean;
  /** A new RTCPeerConnection for one attempt. */
  open: (attempt: number, initiator: boolean) => PeerConnection;
  send: (attempt: number, s: RtcSignal) => void;
  clock: Clock;
  maxAttempts: number;
  deadlineMs: number;
}

/** One link being dialled: its WebRTC attempts, until a channel opens. */
class Dial {
  readonly channel: Promise<ByteChannel>;
  readonly #o: DialOptions;
  readonly #cancelDeadline: () => void;
  #attempt = 0;
  #pc: PeerConnection | null = null;
  #settled = false;
  #resolve: (c: ByteChannel) => void = () => {};
  #reject: (e: MeshError) => void = () => {};

  constructor(o: DialOptions) {
    this.#o = o;
    this.channel = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.channel.catch(() => {});
    this.#cancelDeadline = o.clock.after(o.deadlineMs, () =>
      this.fail(
        new MeshError(
          "ERR_PEER_CONNECT",
          `no WebRTC connection to ${o.remoteId} after ${this.#attempt} attempt(s)`,
          {
            details: { peerId: o.remoteId },
          },
        ),
      ),
    );
    if (o.initiator) this.#next(1);
  }

  onSignal(attempt: number, data: RtcSignal): void {
    if (this.#settled) return;
    if (this.#o.initiator) {
      if (attempt !== this.#attempt) return;
      if (data.type === "renegotiate")
        this.#retry(new MeshError("ERR_PEER_CONNECT", "the responder asked for a new attempt"));
      else this.#pc?.signal(data);
      return;
    }
    if (attempt < this.#attempt) return;
    if (attempt > this.#attempt) this.#next(attempt);
    this.#pc?.signal(data);
  }

  fail(e: MeshError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#cancelDeadline();
    this.#pc?.destroy();
    this.#pc = null;
    this.#reject(e);
  }

  #next(attempt: number): void {
    this.#pc?.destroy();
    this.#attempt = attempt;
    const pc = this.#o.open(attempt, this.#o.initiator);
    this.#pc = pc;
    pc.channel.then(
      (c) => {
        if (this.#pc !== pc || this.#settled) return;
        this.#settled = true;
        this.#cancelDeadline();
        this.#resolve(c);
      },
      (e: unknown) => {
        if (this.#pc !== pc) return; // replaced by a newer attempt
        this.#retry(
          e instanceof MeshError ? e : new MeshError("ERR_PEER_CONNECT", String(e), { cause: e }),
        );
      },
    );
  }

  #retry(cause: MeshError): void {
    if (this.#settled) return;
    if (cause.code === "ERR_ABORTED" || this.#attempt >= this.#o.maxAttempts) {
      this.fail(cause);
      return;
    }
    if (this.#o.initiator) {
      if (this.#pc === null) return; // a retry is already scheduled (failure and renegotiate both ask)
      const next = this.#attempt + 1;
      this.#pc.destroy();
      this.#pc = null;
      // Back off a little (with jitter) so concurrent dials do not collide again in the same instant.
      this.#o.clock.after(30 * next + Math.random() * 50, () => {
        if (!this.#settled) this.#next(next);
      });
    } else {
      // Only the initiator makes offers: ask it for a fresh attempt and wait for its offer.
      this.#pc?.destroy();
      this.#pc = null;
      this.#o.send(this.#attempt, { type: "renegotiate", renegotiate: true });
    }
  }
}

export class Connector {
  readonly #o: ConnectorOptions;
  readonly #clock: Clock;
  readonly #dials = new Map<string, { remoteId: string; dial: Dial }>();
  readonly #early = new Map<string, { from: string; attempt: number; data: RtcSignal }[]>();
  #earlyBytes = 0;
  readonly #release: () => void;
  #destroyed = false;

  constructor(options: ConnectorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#release = options.rtc.retain?.() ?? (() => {});
  }

  /** Feed every relayed signal here. Signals for connections not dialled yet are kept for a while. */
  onSignal(from: string, connId: string, data: RtcSignal): void {
    if (this.#destroyed) return;
    const { base, attempt } = splitAttempt(connId);
    const d = this.#dials.get(base);
    if (d !== undefined) {
      if (d.remoteId === from) d.dial.onSignal(attempt, data);
      return;
    }
    const bytes = signalBytes(data);
    let list = this.#early.get(base);
    if (list === undefined) {
      if (this.#early.size >= MAX_EARLY_CONNS) {
        const oldest = this.#early.keys().next();
        if (oldest.done !== true) this.#forgetEarly(oldest.value);
      }
      list = [];
      this.#early.set(base, list);
    }
    if (list.length >= MAX_EARLY_SIGNALS || this.#earlyBytes + bytes > MAX_EARLY_BYTES) return;
    list.push({ from, attempt, data });
    this.#earlyBytes += bytes;
  }

  /** Bytes held in signals for connections not dialled yet (bounded by MAX_EARLY_BYTES). */
  get earlyBytes(): number {
    return this.#earlyBytes;
  }

  #forgetEarly(connId: string): void {
    for (const s of this.#early.get(connId) ?? []) this.#earlyBytes -= signalBytes(s.data);
    this.#early.delete(connId);
  }

  /**
   * Connects to `remoteId` and resolves with a Link past its hello. Rejects ERR_PEER_CONNECT / ERR_ABORTED.
   * `link` overrides the connector's link options for this link (the room model's message cap).
   */
  async link(
    remoteId: string,
    connId: string,
    signal?: AbortSignal,
    link?: Omit<LinkOptions, "localId" | "remoteId" | "clock">,
  ): Promise<Link> {
    if (this.#destroyed) throw new MeshError("ERR_DESTROYED", "connector destroyed");
    const timeoutMs = this.#o.connectTimeoutMs ?? 10_000;
    const maxAttempts = this.#o.maxAttempts ?? 5;
    const send = (attempt: number, s: RtcSignal): void => {
      try {
        this.#o.client.sendSignal(remoteId, `${connId}#${attempt}`, s);
      } catch {
        // signaling closed: the deadline reports it
      }
    };
    const dial = new Dial({
      remoteId,
      initiator: this.#o.localId < remoteId,
      clock: this.#clock,
      maxAttempts,
      deadlineMs: timeoutMs * 2,
      send,
      open: (attempt, initiator) =>
        connectPeer({
          ...this.#o.rtc,
          initiator,
          onSignal: (s) => send(attempt, s),
          connectTimeoutMs: timeoutMs,
          clock: this.#clock,
        }),
    });
    this.#dials.get(connId)?.dial.fail(new MeshError("ERR_PEER_CONNECT", "superseded"));
    this.#dials.set(connId, { remoteId, dial });
    const onAbort = (): void => dial.fail(new MeshError("ERR_ABORTED", "link aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted === true) onAbort();
    for (const s of this.#early.get(connId) ?? [])
      if (s.from === remoteId) dial.onSignal(s.attempt, s.data);
    this.#forgetEarly(connId);
    try {
      const channel = shapeChannel(await dial.channel, { clock: this.#clock, ...this.#o.shape });
      const made = new Link(channel, {
        ...this.#o.link,
        ...link,
        localId: this.#o.localId,
        remoteId,
        clock: this.#clock,
      });
      const cancel = this.#clock.after(timeoutMs, () => made.destroy("hello timeout"));
      try {
        await made.ready;
      } finally {
        cancel();
      }
      return made;
    } catch (e) {
      if (e instanceof MeshError && e.code !== "ERR_PEER_DESTROYED") throw e;
      throw new MeshError("ERR_PEER_CONNECT", `no link to ${remoteId}`, {
        cause: e,
        details: { peerId: remoteId },
      });
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (this.#dials.get(connId)?.dial === dial) this.#dials.delete(connId);
    }
  }

  /** Abandons a link being dialled (its link() rejects with ERR_ABORTED). */
  cancel(connId: string): void {
    this.#dials.get(connId)?.dial.fail(new MeshError("ERR_ABORTED", "link cancelled"));
  }

  /** Drops buffered signals of connections that belong to older plans. */
  forgetBefore(planVersion: number): void {
    for (const id of [...this.#early.keys()]) {
      const v = Number(id.split("/")[0]);
      if (Number.isFinite(v) && v < planVersion) this.#forgetEarly(id);
    }
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const d of this.#dials.values())
      d.dial.fail(new MeshError("ERR_DESTROYED", "connector destroyed"));
    this.#dials.clear();
    this.#early.clear();
    this.#earlyBytes = 0;
    this.#release();
  }
}
