// Link: typed, framed, versioned peer messaging over one ByteChannel. Adds the hello handshake (version
// negotiation), chunking and reassembly (frame.ts), a data lane that respects bufferedAmount backpressure and
// a control lane that overtakes queued data (cancels, heartbeats), heartbeats with a liveness timeout, and
// validation of every inbound header. Knows nothing of runs or stages: that is the pipeline's business.

import { MeshError } from "../errors.ts";
import {
  decodeMessage,
  encodeMessage,
  FrameCursor,
  FrameError,
  MAX_FRAME_BYTES,
  Reassembler,
  DEFAULT_MAX_MESSAGE_BYTES,
} from "../protocol/frame.ts";
import {
  decodePeer,
  MIN_SUPPORTED_VERSION,
  negotiateVersion,
  PROTOCOL_VERSION,
  type PeerMessage,
  type Unversioned,
} from "../protocol/messages.ts";
import type { ByteChannel } from "./channel.ts";
import { every, systemClock, type Clock } from "./clock.ts";

export interface LinkOptions {
  localId: string;
  remoteId: string;
  clock?: Clock;
  /** Ping interval; keep it at 1 s or less so a vanished peer is noticed well within 5 s. */
  heartbeatIntervalMs?: number;
  /** Nothing received for this long: the link fails with ERR_PEER_LOST. */
  peerTimeoutMs?: number;
  /** The data lane stops handing frames to the channel above this many buffered bytes. */
  highWaterBytes?: number;
  maxFrameBytes?: number;
  maxMessageBytes?: number;
  /** The versions this end announces (tests use it to play an incompatible peer). */
  announce?: { v: number; minV: number };
}

export type Lane = "data" | "control";

/** Messages a Link consumer sees (hello, ping, pong and bye are the link's own). */
export type LinkMessage = Exclude<PeerMessage, { type: "hello" | "ping" | "pong" | "bye" }>;

export interface LinkHandlers {
  message(msg: LinkMessage, body: Uint8Array): void;
  /** The link failed or the remote left (never called for a local destroy()). */
  close(error: MeshError): void;
}

export interface LinkStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Inbound headers that failed validation (answered with an error, then dropped). */
  rejectedMessages: number;
  /** Last heartbeat round trip, or null before the first pong. */
  rttMs: number | null;
}

const BODY_TYPES = new Set(["run", "result"]);
const NO_EMPTY = new Uint8Array(0);

interface Waiter {
  maxBytes: number;
  resolve: () => void;
  reject: (e: MeshError) => void;
}

interface Pending {
  cursor: FrameCursor;
}

export class Link {
  readonly localId: string;
  readonly remoteId: string;
  /** Resolves once both ends agreed on a protocol version; rejects if the link fails first. */
  readonly ready: Promise<void>;
  readonly #channel: ByteChannel;
  readonly #clock: Clock;
  readonly #peerTimeoutMs: number;
  readonly #highWaterBytes: number;
  readonly #maxFrameBytes: number;
  readonly #reassembler: Reassembler;
  readonly #data: Pending[] = [];
  readonly #stats: LinkStats = {
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    rejectedMessages: 0,
    rttMs: null,
  };
  #handlers: LinkHandlers | null = null;
  #early: { msg: LinkMessage; body: Uint8Array }[] = [];
  #earlyClose: MeshError | null = null;
  #resolveReady: () => void = () => {};
  #rejectReady: (e: MeshError) => void = () => {};
  #helloDone = false;
  readonly #announce: { v: number; minV: number };
  #version = PROTOCOL_VERSION;
  #nextMessageId = 1;
  #lastReceivedMs: number;
  #closed = false;
  #stopHeartbeat: () => void;
  #cancelRetry: (() => void) | null = null;
  #waiters: Waiter[] = [];

  constructor(channel: ByteChannel, options: LinkOptions) {
    this.localId = options.localId;
    this.remoteId = options.remoteId;
    this.#channel = channel;
    this.#clock = options.clock ?? systemClock;
    this.#peerTimeoutMs = options.peerTimeoutMs ?? 2_500;
    this.#highWaterBytes = options.highWaterBytes ?? 1024 * 1024;
    this.#maxFrameBytes = Math.min(
      options.maxFrameBytes ?? MAX_FRAME_BYTES,
      channel.maxMessageBytes,
    );
    this.#reassembler = new Reassembler({
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      now: () => this.#clock.now(),
    });
    this.#lastReceivedMs = this.#clock.now();
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // consumers that await it see the rejection; nobody else must.
    channel.listen({
      message: (bytes) => this.#onBytes(bytes),
      close: (reason) =>
        this.#fail(
          new MeshError(
            "ERR_PEER_LOST",
            `link to ${this.remoteId} closed (${reason ?? "channel closed"})`,
            { details: { peerId: this.remoteId } },
          ),
        ),
      drain: () => this.#pump(),
    });
    this.#announce = options.announce ?? { v: PROTOCOL_VERSION, minV: MIN_SUPPORTED_VERSION };
    const hello = this.#announce;
    this.#sendRaw(
      { type: "hello", v: hello.v, minV: hello.minV, peerId: this.localId },
      undefined,
      "control",
    );
    const interval = options.heartbeatIntervalMs ?? 500;
    this.#stopHeartbeat = every(this.#clock, interval, () => this.#heartbeat());
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** The agreed protocol version (valid once `ready` resolved). */
  get version(): number {
    return this.#version;
  }

  get stats(): Readonly<LinkStats> {
    return this.#stats;
  }

  /** Registers the consumer. Messages (and a failure) that arrived earlier are delivered now. */
  listen(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    const early = this.#early;
    this.#early = [];
    for (const { msg, body } of early) handlers.message(msg, body);
    if (this.#earlyClose !== null) handlers.close(this.#earlyClose);
  }

  /**
   * Queues a message. The data lane keeps order with other data and respects backpressure; the control
   * lane goes straight to the channel, ahead of queued data. Throws ERR_PEER_DESTROYED after close.
   */
  send(msg: Unversioned<LinkMessage>, body?: Uint8Array, lane: Lane = "data"): void {
    if (this.#closed)
      throw new MeshError("ERR_PEER_DESTROYED", `link to ${this.remoteId} is closed`);
    if (body !== undefined && body.byteLength > 0 && !BODY_TYPES.has(msg.type)) {
      throw new MeshError("ERR_INTERNAL", `"${msg.type}" messages carry no body`);
    }
    this.#sendRaw({ ...msg, v: this.#version }, body, lane);
  }

  /** Data-lane bytes not yet on the network (queued here plus the channel's buffer). */
  queuedBytes(): number {
    let n = this.#channel.bufferedAmount();
    for (const p of this.#data) n += p.cursor.remainingBytes;
    return n;
  }

  /** Resolves when queuedBytes() <= maxBytes (0: fully flushed to the channel's buffer... and beyond). */
  whenWritable(maxBytes = this.#highWaterBytes): Promise<void> {
    if (this.#closed)
      return Promise.reject(
        new MeshError("ERR_PEER_DESTROYED", `link to ${this.remoteId} is closed`),
      );
    if (this.queuedBytes() <= maxBytes) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ maxBytes, resolve, reject });
      this.#armRetry();
    });
  }

  /** Says goodbye (best effort) and closes. Idempotent; no close handler fires for a local destroy. */
  destroy(reason = "destroyed"): void {
    if (this.#closed) return;
    try {
      this.#sendRaw({ type: "bye", v: this.#version, reason }, undefined, "control");
    } catch {
      // the channel may already be gone
    }
    this.#shutdown(
      new MeshError("ERR_PEER_DESTROYED", `link to ${this.remoteId} destroyed: ${reason}`),
    );
  }

  #sendRaw(msg: PeerMessage, body: Uint8Array | undefined, lane: Lane): void {
    const payload = encodeMessage(msg, body);
    const cursor = new FrameCursor(payload, this.#nextMessageId++, this.#maxFrameBytes);
    this.#stats.messagesSent++;
    if (lane === "control") {
      try {
        for (let f = cursor.next(); f !== null; f = cursor.next()) {
          this.#channel.send(f);
          this.#stats.bytesSent += f.byteLength;
        }
      } catch (e) {
        this.#fail(
          new MeshError("ERR_PEER_LOST", `send to ${this.remoteId} failed`, {
            cause: e,
            details: { peerId: this.remoteId },
          }),
        );
      }
      return;
    }
    this.#data.push({ cursor });
    this.#pump();
  }

  #pump(): void {
    if (this.#closed) return;
    try {
      while (this.#data.length > 0 && this.#channel.bufferedAmount() < this.#highWaterBytes) {
        const head = this.#data[0];
        const frame = head?.cursor.next() ?? null;
        if (frame === null) {
          this.#data.shift();
          continue;
        }
        this.#channel.send(frame);
        this.#stats.bytesSent += frame.byteLength;
      }
    } catch (e) {
      this.#fail(
        new MeshError("ERR_PEER_LOST", `send to ${this.remoteId} failed`, {
          cause: e,
          details: { peerId: this.remoteId },
        }),
      );
      return;
    }
    this.#wakeWaiters();
    if (this.#data.length > 0 || this.#waiters.length > 0) this.#armRetry();
  }

  /** A fallback poll in case a channel never fires `drain` (some implementations lack bufferedamountlow). */
  #armRetry(): void {
    if (this.#cancelRetry !== null || this.#closed) return;
    this.#cancelRetry = this.#clock.after(20, () => {
      this.#cancelRetry = null;
      this.#pump();
    });
  }

  #wakeWaiters(): void {
    if (this.#waiters.length === 0) return;
    const queued = this.queuedBytes();
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      if (queued <= w.maxBytes) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  #heartbeat(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    if (now - this.#lastReceivedMs > this.#peerTimeoutMs) {
      this.#fail(
        new MeshError(
          "ERR_PEER_LOST",
          `peer ${this.remoteId} silent for ${Math.round(now - this.#lastReceivedMs)} ms`,
          {
            details: { peerId: this.remoteId },
          },
        ),
      );
      return;
    }
    this.#sendRaw({ type: "ping", v: this.#version, t: now }, undefined, "control");
  }

  #onBytes(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#lastReceivedMs = this.#clock.now();
    this.#stats.bytesReceived += bytes.byteLength;
    let payload: Uint8Array | null;
    let header: unknown;
    let body: Uint8Array;
    try {
      payload = this.#reassembler.push(bytes);
      if (payload === null) return;
      ({ header, body } = decodeMessage(payload));
    } catch (e) {
      // A broken byte stream cannot be resynchronised: fail the link.
      const code = e instanceof FrameError ? e.code : "ERR_FRAME";
      this.#reply(code, e instanceof Error ? e.message : String(e));
      this.#fail(
        new MeshError(code, `bad frame from ${this.remoteId}: ${String(e)}`, {
          details: { peerId: this.remoteId },
        }),
      );
      return;
    }
    const d = decodePeer(header);
    if (!d.ok) {
      this.#stats.rejectedMessages++;
      this.#reply(d.error.code, d.error.message);
      if (!this.#helloDone)
        this.#fail(
          new MeshError(
            d.error.code,
            `handshake with ${this.remoteId} failed: ${d.error.message}`,
            { details: { peerId: this.remoteId } },
          ),
        );
      return;
    }
    this.#stats.messagesReceived++;
    this.#dispatch(d.msg, body.byteLength === 0 ? NO_EMPTY : body);
  }

  #dispatch(msg: PeerMessage, body: Uint8Array): void {
    if (!this.#helloDone) {
      if (msg.type !== "hello") {
        if (msg.type === "error")
          this.#fail(
            new MeshError(
              "ERR_PEER_CONNECT",
              `${this.remoteId} refused the link: ${msg.code} ${msg.message}`,
              { details: { peerId: this.remoteId, code: msg.code } },
            ),
          );
        else
          this.#fail(
            new MeshError(
              "ERR_PROTOCOL_DECODE",
              `${this.remoteId} sent "${msg.type}" before hello`,
              { details: { peerId: this.remoteId } },
            ),
          );
        return;
      }
      this.#onHello(msg);
      return;
    }
    if (body.byteLength > 0 && !BODY_TYPES.has(msg.type)) {
      this.#stats.rejectedMessages++;
      this.#reply("ERR_PROTOCOL_DECODE", `"${msg.type}" messages carry no body`);
      return;
    }
    switch (msg.type) {
      case "hello":
        this.#stats.rejectedMessages++;
        this.#reply("ERR_PROTOCOL_DECODE", "duplicate hello");
        return;
      case "ping":
        this.#sendRaw({ type: "pong", v: this.#version, t: msg.t }, undefined, "control");
        return;
      case "pong":
        this.#stats.rttMs = this.#clock.now() - msg.t;
        return;
      case "bye":
        this.#fail(
          new MeshError(
            "ERR_PEER_LOST",
            `peer ${this.remoteId} left${msg.reason === undefined ? "" : `: ${msg.reason}`}`,
            { details: { peerId: this.remoteId, polite: true } },
          ),
        );
        return;
      case "run":
      case "kv":
      case "cancel":
      case "skip":
      case "result":
      case "error":
        if (this.#handlers === null) this.#early.push({ msg, body });
        else this.#handlers.message(msg, body);
    }
  }

  #onHello(msg: Extract<PeerMessage, { type: "hello" }>): void {
    const ours = this.#announce;
    const v = negotiateVersion(msg.v, msg.minV, ours);
    if (v === null) {
      const text = `peer ${msg.peerId} speaks v${msg.minV}..v${msg.v}; this end speaks v${ours.minV}..v${ours.v}`;
      this.#reply("ERR_PROTOCOL_VERSION", text);
      this.#fail(
        new MeshError("ERR_PROTOCOL_VERSION", text, { details: { peerId: this.remoteId } }),
      );
      return;
    }
    if (msg.peerId !== this.remoteId) {
      const text = `expected peer ${this.remoteId}, got ${msg.peerId}`;
      this.#reply("ERR_PEER_CONNECT", text);
      this.#fail(new MeshError("ERR_PEER_CONNECT", text, { details: { peerId: this.remoteId } }));
      return;
    }
    this.#version = v;
    this.#helloDone = true;
    this.#resolveReady();
  }

  #reply(code: string, message: string): void {
    if (this.#closed) return;
    try {
      this.#sendRaw(
        { type: "error", v: this.#version, code, message: message.slice(0, 1000) },
        undefined,
        "control",
      );
    } catch {
      // best effort
    }
  }

  #fail(error: MeshError): void {
    if (this.#closed) return;
    this.#shutdown(error);
    if (this.#handlers === null) this.#earlyClose = error;
    else this.#handlers.close(error);
  }

  #shutdown(error: MeshError): void {
    this.#closed = true;
    this.#stopHeartbeat();
    this.#cancelRetry?.();
    this.#cancelRetry = null;
    this.#data.length = 0;
    this.#rejectReady(error);
    for (const w of this.#waiters) w.reject(error);
    this.#waiters = [];
    // Let a final error/bye frame leave before the channel closes.
    this.#clock.after(50, () => this.#channel.close());
  }
}
