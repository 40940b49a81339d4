// Link: typed, framed, versioned peer messaging over one ByteChannel. Adds the hello handshake (version
// negotiation), chunking and reassembly (frame.ts), a data lane that respects bufferedAmount backpressure and
// a control lane that overtakes queued data (cancels, heartbeats), heartbeats with a liveness timeout, and
// validation of every inbound header, and run credit: per link, the receiver of "run" messages grants a
// window (runs and body bytes it takes before it has finished earlier ones, on `ping.credit`), and the
// sender holds a run in its data lane until it fits, so a slow stage slows its sender instead of refusing
// it. Only runs are metered: cancels, pings and errors take the control lane, and kv and skip messages keep
// their place in the data stream (their meaning depends on it) but need no credit, so they wait only for a
// run queued ahead of them. Credit is used only when both hellos say `credit`; a peer without it sends and
// receives runs unmetered, as before. Knows nothing of stages beyond that: the consumer says when it is
// done with a run (holdRuns / releaseRun), or the link counts a run done once it was handed over.

import { MeshError, toMeshErrorCode } from "../errors.ts";
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
  type RunCredit,
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
  /**
   * Run credit (default true). false plays a peer without it (an older build, or a sender that ignores
   * it): no `credit` in hello, runs sent unmetered, no credit granted.
   */
  credit?: boolean;
  /** The window granted on inbound runs until the consumer sets its own (holdRuns). */
  runWindow?: RunWindow;
}

/** How many runs, and how many run body bytes, a receiver takes beyond those it has finished. */
export interface RunWindow {
  runs: number;
  bytes: number;
}

/**
 * Until a consumer takes over (holdRuns), a run counts as done once handed to it, so this window only
 * bounds runs that arrive before anyone listens. It matches StageServer's default window.
 */
export const DEFAULT_RUN_WINDOW: RunWindow = { runs: 32, bytes: 64 * 1024 * 1024 };

export type Lane = "data" | "control";

/** Messages a Link consumer sees (hello, ping, pong and bye are the link's own). */
export type LinkMessage = Exclude<PeerMessage, { type: "hello" | "ping" | "pong" | "bye" }>;

export interface LinkHandlers {
  message(msg: LinkMessage, body: Uint8Array): void;
  /** The link failed or the remote left (never called for a local destroy()). */
  close(error: MeshError): void;
  /**
   * A message after the handshake failed validation: it was answered with its code and dropped, and the
   * link stays up. Consumers that cannot go on without it (a pipeline) fail the link here.
   */
  rejected?(error: MeshError): void;
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
  /** Runs this end sent that the receiver has not finished, as far as its last credit says. */
  runsOutstanding: number;
  /** Times a run waited in the data lane for credit. */
  creditWaits: number;
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
  /** A run's body bytes while it waits for credit; null once admitted, and for every other message. */
  run: number | null;
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
    runsOutstanding: 0,
    creditWaits: 0,
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
  // Run credit. Sending side: what the remote granted (null before its first grant) and what we sent.
  readonly #creditOn: boolean;
  #remoteCredit = false;
  #granted: RunCredit | null = null;
  #sentRuns = 0;
  #sentRunBytes = 0;
  #creditBlocked = false;
  // Receiving side: the window we grant, what we finished, and whether the consumer says so (holdRuns).
  #window: RunWindow;
  #doneRuns = 0;
  #doneRunBytes = 0;
  #holding = false;

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
    this.#creditOn = options.credit ?? true;
    this.#window = checkWindow(options.runWindow ?? DEFAULT_RUN_WINDOW);
    const hello = this.#announce;
    this.#sendRaw(
      {
        type: "hello",
        v: hello.v,
        minV: hello.minV,
        peerId: this.localId,
        ...(this.#creditOn ? { credit: true } : {}),
      },
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
    for (const { msg, body } of early) this.#deliver(handlers, msg, body);
    if (this.#earlyClose !== null) handlers.close(this.#earlyClose);
  }

  /**
   * The consumer finishes inbound runs itself from now on: each delivered run holds credit until
   * releaseRun(its body bytes); `window` replaces the granted window. Call it before listen().
   */
  holdRuns(window?: RunWindow): void {
    this.#holding = true;
    if (window !== undefined) this.#window = checkWindow(window);
    this.#grant();
  }

  /** The consumer is done with one inbound run of `bodyBytes` body bytes (after holdRuns). */
  releaseRun(bodyBytes: number): void {
    this.#doneRuns++;
    this.#doneRunBytes += bodyBytes;
    this.#grant();
  }

  /** Whether runs sent on this link are metered by the remote's credit (both hellos said `credit`). */
  get metered(): boolean {
    return this.#creditOn && this.#remoteCredit;
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

  #deliver(handlers: LinkHandlers, msg: LinkMessage, body: Uint8Array): void {
    handlers.message(msg, body);
    if (msg.type === "run" && !this.#holding) this.releaseRun(body.byteLength);
  }

  /** Tells the remote our window (control lane: credit never waits behind data). */
  #grant(): void {
    if (this.#closed || !this.#creditOn || !this.#remoteCredit) return;
    const credit: RunCredit = {
      done: this.#doneRuns,
      doneBytes: this.#doneRunBytes,
      runs: this.#window.runs,
      bytes: this.#window.bytes,
    };
    this.#sendRaw(
      { type: "ping", v: this.#version, t: this.#clock.now(), credit },
      undefined,
      "control",
    );
  }

  /** May the run at the head of the data lane (`bytes` of body) go now? Counts it if so. */
  #admit(bytes: number): boolean {
    if (this.#creditOn) {
      // Runs wait for the remote's hello (does it grant credit?) and, if it does, for its first grant.
      if (!this.#helloDone) return false;
      if (this.#remoteCredit) {
        const g = this.#granted;
        if (g === null) return false;
        const runs = this.#sentRuns - g.done;
        const runBytes = this.#sentRunBytes - g.doneBytes;
        if (runs >= g.runs || (runs > 0 && runBytes + bytes > g.bytes)) return false;
      }
    }
    this.#sentRuns++;
    this.#sentRunBytes += bytes;
    if (this.#granted !== null) this.#stats.runsOutstanding = this.#sentRuns - this.#granted.done;
    return true;
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
    this.#data.push({ cursor, run: msg.type === "run" ? (body?.byteLength ?? 0) : null });
    this.#pump();
  }

  #pump(): void {
    if (this.#closed) return;
    try {
      this.#creditBlocked = false;
      while (this.#data.length > 0 && this.#channel.bufferedAmount() < this.#highWaterBytes) {
        const head = this.#data[0];
        if (head !== undefined && head.run !== null) {
          if (!this.#admit(head.run)) {
            if (!this.#creditBlocked) this.#stats.creditWaits++;
            this.#creditBlocked = true;
            break; // a grant (or the remote's hello) pumps again
          }
          head.run = null;
        }
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
    // Blocked on credit with nothing left in the channel: only a grant changes anything, and it pumps.
    const moving = this.#channel.bufferedAmount() > 0 || !this.#creditBlocked;
    if (moving && (this.#data.length > 0 || this.#waiters.length > 0)) this.#armRetry();
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
      else this.#rejected(d.error.code, d.error.message);
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
      this.#rejected("ERR_PROTOCOL_DECODE", `"${msg.type}" messages carry no body`);
      return;
    }
    switch (msg.type) {
      case "hello":
        this.#stats.rejectedMessages++;
        this.#reply("ERR_PROTOCOL_DECODE", "duplicate hello");
        this.#rejected("ERR_PROTOCOL_DECODE", "duplicate hello");
        return;
      case "ping":
        this.#sendRaw({ type: "pong", v: this.#version, t: msg.t }, undefined, "control");
        if (msg.credit !== undefined && this.#creditOn && this.#remoteCredit) {
          // Grants only grow (the channel keeps order); a stale one is ignored.
          if (this.#granted === null || msg.credit.done >= this.#granted.done) {
            this.#granted = msg.credit;
            this.#stats.runsOutstanding = this.#sentRuns - msg.credit.done;
          }
          this.#pump();
        }
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
        else this.#deliver(this.#handlers, msg, body);
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
    this.#remoteCredit = msg.credit === true;
    this.#resolveReady();
    this.#grant(); // our window, to a peer that understands it
    this.#pump(); // runs held for the hello go now (or wait for the remote's grant)
  }

  /** Tells the consumer (if it listens for them) about a message dropped after the handshake. */
  #rejected(code: string, message: string): void {
    if (this.#closed) return;
    const error = new MeshError(
      toMeshErrorCode(code),
      `${this.remoteId} sent a message that failed validation: ${message}`,
      { details: { peerId: this.remoteId } },
    );
    this.#handlers?.rejected?.(error);
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

function checkWindow(w: RunWindow): RunWindow {
  if (!Number.isInteger(w.runs) || w.runs < 1 || !Number.isInteger(w.bytes) || w.bytes < 1)
    throw new MeshError("ERR_INTERNAL", `bad run window ${JSON.stringify(w)}`);
  return { runs: w.runs, bytes: w.bytes };
}
