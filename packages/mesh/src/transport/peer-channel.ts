// A ByteChannel over one WebRTC data channel, through @thaunknown/simple-peer: the browser's own
// RTCPeerConnection in tabs, node-datachannel's polyfill in Node (pass `{ bindAddress: "127.0.0.1" }` as
// extraConfig there to keep ICE on loopback). ICE servers come from the caller only, never a library default.
// Signaling (how offers reach the other side) is the caller's: it forwards `onSignal` output and feeds `signal`.

// The package ships no types; the reference pulls our declaration into every project compiling this file.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./simple-peer.d.ts" />
import SimplePeer, { type DataChannelLike } from "@thaunknown/simple-peer";
import { MeshError } from "../errors.ts";
import { MAX_FRAME_BYTES } from "../protocol/frame.ts";
import { decodeRtcSignal, type IceServer, type RtcSignal } from "../protocol/messages.ts";
import type { ByteChannel, ByteChannelEvents } from "./channel.ts";
import { systemClock, type Clock } from "./clock.ts";

export interface RtcOptions {
  /** STUN/TURN servers from configuration. Default: none (host candidates only). */
  iceServers?: IceServer[];
  /** Extra RTCPeerConnection configuration; in Node `{ bindAddress: "127.0.0.1" }`. */
  extraConfig?: Record<string, unknown>;
  /** Drop ICE candidates that are not 127.0.0.1/::1, in both directions (tests, local development). */
  loopbackOnly?: boolean;
  /** Give up connecting after this long (ERR_PEER_CONNECT). */
  connectTimeoutMs?: number;
  /** The low-water mark at which the channel reports `drain`. */
  lowWaterBytes?: number;
  /**
   * Keeps the platform's WebRTC runtime alive while a Connector exists (Node: see node/rtc-keepalive.ts);
   * returns the release function.
   */
  retain?: () => () => void;
}

export interface PeerConnectOptions extends RtcOptions {
  initiator: boolean;
  /** Called with every local signal to forward to the remote peer. */
  onSignal: (signal: RtcSignal) => void;
  clock?: Clock;
  signal?: AbortSignal;
}

/** A connection attempt: feed it remote signals; `channel` resolves once the data channel is open. */
export interface PeerConnection {
  readonly channel: Promise<ByteChannel>;
  /** Applies a signal from the remote peer (invalid ones are ignored). */
  signal(data: RtcSignal): void;
  /** Idempotent. */
  destroy(): void;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address === "localhost";
}

/** "candidate:1 1 UDP 2114977791 127.0.0.1 40378 typ host" -> keep only loopback addresses. */
export function isLoopbackCandidate(candidate: string): boolean {
  const address = candidate.replace(/^a=/, "").split(/\s+/)[4];
  return address !== undefined && isLoopback(address);
}

function filterSdp(sdp: string): string {
  return sdp
    .split(/\r\n/)
    .filter((line) => !line.startsWith("a=candidate:") || isLoopbackCandidate(line))
    .join("\r\n");
}

function filterSignal(s: RtcSignal, loopbackOnly: boolean): RtcSignal | null {
  if (!loopbackOnly) return s;
  if (s.type === "candidate") return isLoopbackCandidate(s.candidate.candidate) ? s : null;
  if (s.type === "offer" || s.type === "answer") return { type: s.type, sdp: filterSdp(s.sdp) };
  return s;
}

class PeerChannel implements ByteChannel {
  readonly maxMessageBytes: number;
  readonly #peer: SimplePeer;
  readonly #dc: DataChannelLike | null;
  #events: ByteChannelEvents | null = null;
  #inbox: Uint8Array[] = [];
  #closedReason: string | null = null;
  #closeSeen = false;

  constructor(peer: SimplePeer, lowWaterBytes: number) {
    this.#peer = peer;
    this.#dc = peer._channel;
    const advertised = this.#dc?.maxMessageSize ?? MAX_FRAME_BYTES;
    this.maxMessageBytes = Math.min(MAX_FRAME_BYTES, advertised > 0 ? advertised : MAX_FRAME_BYTES);
    if (this.#dc !== null) {
      this.#dc.bufferedAmountLowThreshold = lowWaterBytes;
      this.#dc.addEventListener("bufferedamountlow", () => this.#events?.drain());
    }
    peer.on("data", (d) => {
      const bytes = typeof d === "string" ? new TextEncoder().encode(d) : d;
      if (this.#events === null) this.#inbox.push(bytes);
      else this.#events.message(bytes);
    });
    peer.on("close", () => this.#onClose("closed"));
  }

  /** Set by the connector when simple-peer reports an error after connect. */
  onError(err: Error): void {
    this.#onClose(err.message);
  }

  bufferedAmount(): number {
    return this.#dc?.bufferedAmount ?? this.#peer.bufferSize;
  }

  listen(events: ByteChannelEvents): void {
    this.#events = events;
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const m of inbox) events.message(m);
    if (this.#closedReason !== null) this.#onClose(this.#closedReason);
  }

  send(bytes: Uint8Array): void {
    if (this.#closedReason !== null || this.#peer.destroyed) throw new Error("data channel closed");
    this.#peer.send(bytes);
  }

  close(): void {
    if (!this.#peer.destroyed) this.#peer.destroy();
  }

  #onClose(reason: string): void {
    this.#closedReason ??= reason;
    if (this.#events === null || this.#closeSeen) return;
    this.#closeSeen = true;
    this.#events.close(reason);
  }
}

/** Starts a WebRTC connection. The initiator creates the offer; the responder answers. */
export function connectPeer(options: PeerConnectOptions): PeerConnection {
  const clock = options.clock ?? systemClock;
  const loopbackOnly = options.loopbackOnly ?? false;
  const peer = new SimplePeer({
    initiator: options.initiator,
    config: { ...options.extraConfig, iceServers: options.iceServers ?? [] },
    ...(loopbackOnly ? { sdpTransform: filterSdp } : {}),
  });
  let channel: PeerChannel | null = null;
  let settled = false;
  // The initiator sends its candidates only once the answer is applied. Otherwise the responder may finish
  // ICE and send its DTLS hello before the initiator has a DTLS transport; libdatachannel drops it and the
  // handshake waits for the 1 s DTLS retransmission.
  let outHeld: RtcSignal[] | null = options.initiator ? [] : null;
  // HACK: destroying a connection while node-datachannel applies a description (the initiator before its
  // offer is out, the responder between the offer and its answer) can abort the whole process from a native
  // thread ("Unexpected local description type answer in signaling state stable"). Such a destroy waits until
  // the local description is out (or 3 s), and each side takes exactly one remote description.
  let remoteDescription = false;
  let busy = options.initiator;
  let destroyWhenIdle = false;
  const destroyPeer = (): void => {
    if (peer.destroyed) return;
    if (!busy) {
      peer.destroy();
      return;
    }
    if (destroyWhenIdle) return;
    destroyWhenIdle = true;
    clock.after(3000, () => {
      if (!peer.destroyed) peer.destroy();
    });
  };
  const apply = (s: RtcSignal): void => {
    if (peer.destroyed) return;
    try {
      peer.signal(s);
    } catch {
      // a destroyed peer throws; the attempt already failed
    }
  };
  let resolveChannel: (c: ByteChannel) => void = () => {};
  let rejectChannel: (e: MeshError) => void = () => {};
  const promise = new Promise<ByteChannel>((resolve, reject) => {
    resolveChannel = resolve;
    rejectChannel = reject;
  });
  promise.catch(() => {});

  const fail = (e: MeshError): void => {
    if (settled) return;
    settled = true;
    cancelTimeout();
    options.signal?.removeEventListener("abort", onAbort);
    rejectChannel(e);
    destroyPeer();
  };
  const onAbort = (): void => fail(new MeshError("ERR_ABORTED", "connection attempt aborted"));
  const cancelTimeout = clock.after(options.connectTimeoutMs ?? 15_000, () =>
    fail(
      new MeshError(
        "ERR_PEER_CONNECT",
        `WebRTC connection not established in ${options.connectTimeoutMs ?? 15_000} ms`,
      ),
    ),
  );
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();

  peer.on("signal", (data) => {
    const d = decodeRtcSignal(data);
    if (!d.ok) return;
    if (d.msg.type === "offer" || d.msg.type === "answer") {
      busy = false;
      if (destroyWhenIdle) {
        peer.destroy();
        return;
      }
    }
    if (settled && channel === null) return; // failed: nobody listens any more
    const s = filterSignal(d.msg, loopbackOnly);
    if (s === null) return;
    if (s.type === "candidate" && outHeld !== null) outHeld.push(s);
    else options.onSignal(s);
  });
  peer.on("error", (err) => {
    if (channel !== null) channel.onError(err);
    fail(
      new MeshError("ERR_PEER_CONNECT", `WebRTC: ${err.code ?? ""} ${err.message}`, { cause: err }),
    );
  });
  peer.on("close", () =>
    fail(new MeshError("ERR_PEER_CONNECT", "peer connection closed before it opened")),
  );
  peer.on("connect", () => {
    if (settled) return;
    settled = true;
    cancelTimeout();
    options.signal?.removeEventListener("abort", onAbort);
    channel = new PeerChannel(peer, options.lowWaterBytes ?? 256 * 1024);
    resolveChannel(channel);
  });

  return {
    channel: promise,
    signal(data) {
      const s = filterSignal(data, loopbackOnly);
      if (s === null || peer.destroyed || destroyWhenIdle) return;
      if (s.type === "offer" || s.type === "answer") {
        const expected = options.initiator ? "answer" : "offer";
        if (s.type !== expected || remoteDescription) return;
        remoteDescription = true;
        if (!options.initiator) busy = true;
      }
      apply(s);
      if (s.type === "answer" && outHeld !== null) {
        const release = outHeld;
        outHeld = null;
        for (const c of release) options.onSignal(c);
      }
    },
    destroy() {
      fail(new MeshError("ERR_PEER_DESTROYED", "connection attempt destroyed"));
      destroyPeer();
    },
  };
}
