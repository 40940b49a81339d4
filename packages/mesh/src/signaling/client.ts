// The signaling client: one WebSocket to the server, typed requests (create, join) with timeouts, room
// notifications (state, queue position, grant, relayed WebRTC signals) as callbacks, and heartbeats. Runs in
// tabs (the global WebSocket) and in Node (pass a factory built on `ws`, see src/node). Knows no WebRTC.
// A member the room evicted (on its head's report) ends with ERR_EVICTED through the close path.

import { MeshError, toMeshErrorCode } from "../errors.ts";
import {
  decodeSignal,
  MIN_SUPPORTED_VERSION,
  PROTOCOL_VERSION,
  SIGNALING_CLOSE_CODES,
  type IceServer,
  type ModelInfo,
  type PeerCapabilities,
  type PeerRole,
  type RoomState,
  type RtcSignal,
  type SignalMessage,
  type Unversioned,
} from "../protocol/messages.ts";
import { every, systemClock, type Clock } from "../transport/clock.ts";

/** The part of the WebSocket API the client uses (the browser's and `ws`'s both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface SignalingClientOptions {
  /** Defaults to the global WebSocket (browsers, Node >= 22). */
  webSocket?: WebSocketFactory;
  clock?: Clock;
  /** Connect and request timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface JoinRequest {
  roomId: string;
  secret: string;
  role: PeerRole;
  caps: PeerCapabilities;
}

export interface Joined {
  peerId: string;
  state: RoomState;
  iceServers: IceServer[];
}

export interface SignalingHandlers {
  state?: (state: RoomState) => void;
  signal?: (from: string, connId: string, data: RtcSignal) => void;
  queued?: (position: number) => void;
  granted?: (planVersion: number) => void;
  /** An error reply that answered no pending request (e.g. a relay to a peer that left). */
  error?: (error: MeshError) => void;
  /**
   * The connection ended (server gone, liveness timeout, eviction: ERR_EVICTED, destroy()). Called once.
   */
  close?: (error: MeshError) => void;
}

const OPEN = 1;

function defaultFactory(url: string): WebSocketLike {
  const WS = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (WS === undefined) {
    throw new MeshError(
      "ERR_SIGNALING_CLOSED",
      "no global WebSocket here; pass `webSocket` (see @pipemesh/mesh/node)",
    );
  }
  return new WS(url);
}

interface Pending {
  reply: SignalMessage["type"];
  ref: string;
  resolve: (m: SignalMessage) => void;
  reject: (e: MeshError) => void;
  cancel: () => void;
}

export class SignalingClient {
  readonly url: string;
  readonly #ws: WebSocketLike;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #handlers: SignalingHandlers = {};
  #pending: Pending[] = [];
  #closed: MeshError | null = null;
  #lastHeardMs: number;
  #stopHeartbeat: () => void = () => {};
  #peerId: string | null = null;

  private constructor(url: string, ws: WebSocketLike, clock: Clock, timeoutMs: number) {
    this.url = url;
    this.#ws = ws;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#lastHeardMs = clock.now();
  }

  /** Opens the WebSocket; rejects with ERR_SIGNALING_TIMEOUT / ERR_SIGNALING_CLOSED / ERR_ABORTED. */
  static connect(url: string, options: SignalingClientOptions = {}): Promise<SignalingClient> {
    const clock = options.clock ?? systemClock;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = (options.webSocket ?? defaultFactory)(url);
      } catch (e) {
        reject(
          e instanceof MeshError
            ? e
            : new MeshError("ERR_SIGNALING_CLOSED", `cannot open ${url}`, { cause: e }),
        );
        return;
      }
      const client = new SignalingClient(url, ws, clock, timeoutMs);
      let done = false;
      const finish = (err: MeshError | null): void => {
        if (done) return;
        done = true;
        cancel();
        options.signal?.removeEventListener("abort", onAbort);
        if (err === null) {
          client.#attach();
          resolve(client);
        } else {
          ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
          try {
            ws.close();
          } catch {
            // not open yet
          }
          reject(err);
        }
      };
      const onAbort = (): void => finish(new MeshError("ERR_ABORTED", "connect aborted"));
      const cancel = clock.after(timeoutMs, () =>
        finish(
          new MeshError("ERR_SIGNALING_TIMEOUT", `no connection to ${url} within ${timeoutMs} ms`),
        ),
      );
      options.signal?.addEventListener("abort", onAbort, { once: true });
      ws.onopen = () => finish(null);
      ws.onerror = () => finish(new MeshError("ERR_SIGNALING_CLOSED", `cannot connect to ${url}`));
      ws.onclose = (ev) =>
        finish(new MeshError("ERR_SIGNALING_CLOSED", `${url} closed (${ev.code} ${ev.reason})`));
    });
  }

  get peerId(): string | null {
    return this.#peerId;
  }

  get closed(): MeshError | null {
    return this.#closed;
  }

  /** Replaces the notification handlers. */
  on(handlers: SignalingHandlers): void {
    this.#handlers = handlers;
  }

  /** `token`: the server's create token, when it was started with one. */
  async createRoom(
    model: ModelInfo,
    options: { token?: string } = {},
  ): Promise<{ roomId: string; secret: string }> {
    const m = await this.#request(
      { type: "create", model, ...(options.token === undefined ? {} : { token: options.token }) },
      "created",
      "create",
    );
    if (m.type !== "created") throw new MeshError("ERR_INTERNAL", "unexpected reply");
    return { roomId: m.roomId, secret: m.secret };
  }

  async join(req: JoinRequest): Promise<Joined> {
    const m = await this.#request(
      { type: "join", minV: MIN_SUPPORTED_VERSION, ...req },
      "joined",
      "join",
    );
    if (m.type !== "joined") throw new MeshError("ERR_INTERNAL", "unexpected reply");
    this.#peerId = m.peerId;
    const heartbeatMs = Math.max(250, Math.min(m.heartbeatMs, m.livenessTimeoutMs / 3));
    this.#stopHeartbeat = every(this.#clock, heartbeatMs, () =>
      this.#heartbeat(m.livenessTimeoutMs),
    );
    return { peerId: m.peerId, state: m.state, iceServers: m.iceServers };
  }

  setCaps(caps: PeerCapabilities): void {
    this.#send({ type: "caps", caps });
  }

  /** Reports a loaded range, with the bytes it holds on the device when the loader knows them. */
  ready(
    layerStart: number,
    layerEnd: number,
    sizes: { weightBytes?: number | undefined; kvBytes?: number | undefined } = {},
  ): void {
    this.#send({ type: "ready", layerStart, layerEnd, ...definedSizes(sizes) });
  }

  /** Asks for the generation slot; the answer arrives as `queued` or `granted`. */
  request(): void {
    this.#send({ type: "request" });
  }

  release(): void {
    this.#send({ type: "release" });
  }

  /**
   * The active head reports a stage of its plan that failed it (`code`: the failure's ERR_ code, e.g.
   * ERR_PEER_LOST): the server evicts that member and repairs the plan. A refusal (not the active head, not
   * a stage of the plan) arrives through the `error` handler as ERR_REPORT_REFUSED. Throws the close
   * error once the connection has ended, as every send does. `message` is cut to 1024 characters.
   */
  report(peerId: string, code: string, message: string): void {
    this.#send({ type: "report", peerId, code, message: message.slice(0, 1024) });
  }

  sendSignal(to: string, connId: string, data: RtcSignal): void {
    this.#send({ type: "signal", to, connId, data });
  }

  /** Leaves the room and closes the socket. Idempotent. */
  destroy(): void {
    if (this.#closed !== null) return;
    try {
      if (this.#ws.readyState === OPEN)
        this.#ws.send(JSON.stringify({ type: "leave", v: PROTOCOL_VERSION }));
    } catch {
      // closing anyway
    }
    this.#end(new MeshError("ERR_DESTROYED", "signaling client destroyed"));
  }

  #attach(): void {
    this.#ws.onmessage = (ev) => this.#onMessage(ev.data);
    this.#ws.onclose = (ev) =>
      this.#end(
        ev.code === SIGNALING_CLOSE_CODES.evicted
          ? new MeshError("ERR_EVICTED", ev.reason || "evicted from the room")
          : new MeshError("ERR_SIGNALING_CLOSED", `signaling closed (${ev.code} ${ev.reason})`),
      );
    this.#ws.onerror = () =>
      this.#end(new MeshError("ERR_SIGNALING_CLOSED", "signaling socket error"));
  }

  #send(msg: Unversioned<SignalMessage>): void {
    if (this.#closed !== null) throw this.#closed;
    try {
      this.#ws.send(JSON.stringify({ ...msg, v: PROTOCOL_VERSION }));
    } catch (e) {
      const err = new MeshError("ERR_SIGNALING_CLOSED", "send on a closed signaling socket", {
        cause: e,
      });
      this.#end(err);
      throw err;
    }
  }

  #request(
    msg: Unversioned<SignalMessage>,
    reply: SignalMessage["type"],
    ref: string,
  ): Promise<SignalMessage> {
    return new Promise((resolve, reject) => {
      const p: Pending = {
        reply,
        ref,
        resolve,
        reject,
        cancel: this.#clock.after(this.#timeoutMs, () => {
          this.#pending = this.#pending.filter((x) => x !== p);
          reject(
            new MeshError(
              "ERR_SIGNALING_TIMEOUT",
              `no answer to "${ref}" within ${this.#timeoutMs} ms`,
            ),
          );
        }),
      };
      this.#pending.push(p);
      try {
        this.#send(msg);
      } catch (e) {
        p.cancel();
        this.#pending = this.#pending.filter((x) => x !== p);
        reject(e instanceof MeshError ? e : new MeshError("ERR_SIGNALING_CLOSED", String(e)));
      }
    });
  }

  #settle(match: (p: Pending) => boolean): Pending | undefined {
    const p = this.#pending.find(match);
    if (p !== undefined) {
      p.cancel();
      this.#pending = this.#pending.filter((x) => x !== p);
    }
    return p;
  }

  #heartbeat(livenessTimeoutMs: number): void {
    if (this.#closed !== null) return;
    if (this.#clock.now() - this.#lastHeardMs > livenessTimeoutMs) {
      this.#end(
        new MeshError("ERR_SIGNALING_TIMEOUT", `server silent for ${livenessTimeoutMs} ms`),
      );
      return;
    }
    try {
      this.#send({ type: "ping", t: this.#clock.now() });
    } catch {
      // #end ran
    }
  }

  #onMessage(data: unknown): void {
    this.#lastHeardMs = this.#clock.now();
    if (typeof data !== "string") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    const d = decodeSignal(parsed);
    if (!d.ok) return; // a newer server may send what we do not know; it is not ours to crash on
    const m = d.msg;
    switch (m.type) {
      case "created":
      case "joined":
        this.#settle((p) => p.reply === m.type)?.resolve(m);
        return;
      case "error": {
        if (m.code === "ERR_EVICTED" && m.ref === undefined) {
          // The server closes the socket next; end now, with its reason.
          this.#end(new MeshError("ERR_EVICTED", m.message));
          return;
        }
        const err = new MeshError(toMeshErrorCode(m.code), m.message, { details: { ref: m.ref } });
        const p = m.ref === undefined ? undefined : this.#settle((x) => x.ref === m.ref);
        if (p !== undefined) p.reject(err);
        else this.#handlers.error?.(err);
        return;
      }
      case "state":
        this.#handlers.state?.(m.state);
        return;
      case "signal":
        if (m.from !== undefined) this.#handlers.signal?.(m.from, m.connId, m.data);
        return;
      case "queued":
        this.#handlers.queued?.(m.position);
        return;
      case "granted":
        this.#handlers.granted?.(m.planVersion);
        return;
      case "pong":
      case "ping":
      case "create":
      case "join":
      case "caps":
      case "ready":
      case "request":
      case "release":
      case "leave":
      case "report":
        return;
    }
  }

  #end(error: MeshError): void {
    if (this.#closed !== null) return;
    this.#closed = error;
    this.#stopHeartbeat();
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) {
      p.cancel();
      p.reject(error);
    }
    this.#ws.onmessage = this.#ws.onclose = this.#ws.onerror = null;
    try {
      this.#ws.close(1000, "bye");
    } catch {
      // already closed
    }
    this.#handlers.close?.(error);
  }
}

function definedSizes(s: { weightBytes?: number | undefined; kvBytes?: number | undefined }): {
  weightBytes?: number;
  kvBytes?: number;
} {
  const out: { weightBytes?: number; kvBytes?: number } = {};
  if (s.weightBytes !== undefined) out.weightBytes = s.weightBytes;
  if (s.kvBytes !== undefined) out.kvBytes = s.kvBytes;
  return out;
}
