// The signaling server's logic without a socket library: rooms (create, join with secret, leave), liveness,
// limits (message size, messages per second, peers per room), the room's plan and queue, and relay of WebRTC
// signals between members of one room. Time comes from an injected clock; the ws adapter only moves text.
// Never sees activations or tokens. A bad message gets a coded error reply and is dropped, never a throw.
// Abuse bounds: room creation goes through CreateGuard (token, quotas, known models); rooms nobody ever
// joined expire quickly; state broadcasts are coalesced and sent only on change (state-broadcast.ts); a
// client that stops reading is closed once its send buffer passes a limit. The active head may report a
// stage of its plan that failed it: that member is evicted (told why, closed with CLOSE_CODES.evicted) and
// leaves the room as on a disconnect.

import type { MeshErrorCode } from "../errors.ts";
import {
  decodeSignal,
  negotiateVersion,
  PROTOCOL_VERSION,
  SIGNALING_CLOSE_CODES,
  type IceServer,
  type ModelInfo,
  type SignalMessage,
  type Unversioned,
} from "../protocol/messages.ts";
import { Room, type RoomNotice } from "../room/room.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import {
  CreateGuard,
  DEFAULT_CREATE_LIMITS,
  sameSecret,
  type CreateLimits,
} from "./create-guard.ts";
import { publicState, StateBroadcast } from "./state-broadcast.ts";

export interface RelayConnection {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** The client's address (rate limits per address); connections without one share "unknown". */
  address?: string;
  /** Bytes queued for this client and not yet written to the network. */
  bufferedBytes?(): number;
}

export interface RelayLimits extends CreateLimits {
  /** Largest accepted message (UTF-8 bytes). SDP offers are a few KiB. */
  maxMessageBytes: number;
  /** Sustained messages per second per connection (bursts up to the same count). */
  maxMessagesPerSecond: number;
  maxPeersPerRoom: number;
  maxRooms: number;
  /** Largest capabilities object (JSON bytes) in `join` or `caps`. */
  maxCapsBytes: number;
  /** A client whose unsent bytes pass this is closed (CLOSE_CODES.slowConsumer). */
  maxSendBufferBytes: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxMessageBytes: 64 * 1024,
  maxMessagesPerSecond: 100,
  maxPeersPerRoom: 32,
  maxRooms: 1000,
  maxCapsBytes: 4 * 1024,
  maxSendBufferBytes: 2 * 1024 * 1024,
  ...DEFAULT_CREATE_LIMITS,
};

export interface RelayOptions {
  clock?: Clock;
  limits?: Partial<RelayLimits>;
  /** Handed to every peer on join. Empty by default: STUN/TURN come from configuration only. */
  iceServers?: IceServer[];
  /** How often clients should ping. */
  heartbeatMs?: number;
  /** A connection silent for this long is dropped (and leaves its room). */
  livenessTimeoutMs?: number;
  /** Rooms that had members and are empty now are forgotten after this long. */
  emptyRoomTtlMs?: number;
  /** Rooms created by a client that nobody ever joined are forgotten after this long. */
  unjoinedRoomTtlMs?: number;
  /** State changes within this many ms are broadcast once (0: at once, still only on change). */
  broadcastTickMs?: number;
  /** When set, `create` must carry this token (ERR_UNAUTHORIZED otherwise). */
  createToken?: string;
  /** The models this server serves: rooms are created only for these ids, with these sizes. */
  models?: readonly ModelInfo[];
  /** Random id source (tests pass a seeded one). */
  randomId?: (chars: number) => string;
  /**
   * Checks or completes the model a room is created for (after the `models` check). Return a string to
   * refuse with ERR_MODEL_UNKNOWN and that message.
   */
  resolveModel?: (model: ModelInfo) => ModelInfo | string;
}

/** WebSocket close codes the relay uses (the 4xxx ones are part of the protocol: messages.ts). */
export const CLOSE_CODES = {
  ...SIGNALING_CLOSE_CODES,
  shutdown: 1001,
} as const;

interface Conn {
  readonly id: number;
  readonly conn: RelayConnection;
  room: Room | null;
  peerId: string | null;
  lastSeenMs: number;
  tokens: number;
  tokensAtMs: number;
  lastRateErrorMs: number;
  roomsCreated: number;
  open: boolean;
}

interface RoomEntry {
  room: Room;
  /** When the room last became empty; null while it has members. */
  emptySinceMs: number | null;
  /** Forgotten after this long empty. */
  ttlMs: number;
  /** Somebody has joined it at least once. */
  joinedOnce: boolean;
}

const ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

function defaultRandomId(chars: number): string {
  const bytes = new Uint8Array(chars);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length] ?? "a";
  return s;
}

/** A connection as the relay sees it; the socket adapter feeds it text and tells it when the socket closed. */
export interface RelaySession {
  receive(text: string, sizeBytes?: number): void;
  /** A binary message arrived (not part of the protocol): answered with an error and dropped. */
  receiveBinary(sizeBytes: number): void;
  closed(): void;
}

export class Relay {
  readonly #clock: Clock;
  readonly #limits: RelayLimits;
  readonly #iceServers: IceServer[];
  readonly #heartbeatMs: number;
  readonly #livenessTimeoutMs: number;
  readonly #emptyRoomTtlMs: number;
  readonly #unjoinedRoomTtlMs: number;
  readonly #randomId: (chars: number) => string;
  readonly #guard: CreateGuard;
  readonly #broadcast: StateBroadcast;
  readonly #conns = new Set<Conn>();
  readonly #rooms = new Map<string, RoomEntry>();
  #nextConnId = 1;
  #destroyed = false;

  constructor(options: RelayOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#limits = { ...DEFAULT_RELAY_LIMITS, ...options.limits };
    this.#iceServers = options.iceServers ?? [];
    this.#heartbeatMs = options.heartbeatMs ?? 5_000;
    this.#livenessTimeoutMs = options.livenessTimeoutMs ?? 20_000;
    this.#emptyRoomTtlMs = options.emptyRoomTtlMs ?? 10 * 60_000;
    this.#unjoinedRoomTtlMs = options.unjoinedRoomTtlMs ?? 2 * 60_000;
    this.#randomId = options.randomId ?? defaultRandomId;
    this.#guard = new CreateGuard({
      limits: this.#limits,
      createToken: options.createToken,
      models: options.models,
      resolveModel: options.resolveModel,
    });
    this.#broadcast = new StateBroadcast({
      clock: this.#clock,
      tickMs: options.broadcastTickMs ?? 50,
      state: (roomId) => this.#rooms.get(roomId)?.room.state() ?? null,
      serialise: (state) => JSON.stringify({ type: "state", state, v: PROTOCOL_VERSION }),
      send: (roomId, text) => {
        const room = this.#rooms.get(roomId)?.room;
        for (const c of [...this.#conns])
          if (c.room !== null && c.room === room) this.#sendText(c, text);
      },
    });
  }

  get heartbeatMs(): number {
    return this.#heartbeatMs;
  }

  /** Counts for tests and logs. */
  stats(): { connections: number; rooms: number; members: number } {
    let members = 0;
    for (const { room } of this.#rooms.values()) members += room.size;
    return { connections: this.#conns.size, rooms: this.#rooms.size, members };
  }

  /**
   * Creates a room from inside the server (no connection, no quota): `pipemesh serve`'s printed room. It
   * lives `emptyTtlMs` while empty (default: the relay's empty-room lifetime) even if nobody ever joins.
   */
  createRoom(
    model: ModelInfo,
    options: { emptyTtlMs?: number } = {},
  ): { roomId: string; secret: string } {
    return this.#newRoom(model, options.emptyTtlMs ?? this.#emptyRoomTtlMs, true);
  }

  /** The state of one room (tests, admin). */
  room(roomId: string): Room | undefined {
    return this.#rooms.get(roomId)?.room;
  }

  open(conn: RelayConnection): RelaySession {
    const c: Conn = {
      id: this.#nextConnId++,
      conn,
      room: null,
      peerId: null,
      lastSeenMs: this.#clock.now(),
      tokens: this.#limits.maxMessagesPerSecond,
      tokensAtMs: this.#clock.now(),
      lastRateErrorMs: -Infinity,
      roomsCreated: 0,
      open: !this.#destroyed,
    };
    if (this.#destroyed) conn.close(CLOSE_CODES.shutdown, "server shutting down");
    else this.#conns.add(c);
    return {
      receive: (text, sizeBytes) => this.#receive(c, text, sizeBytes ?? byteLength(text)),
      receiveBinary: (sizeBytes) => this.#receiveBinary(c, sizeBytes),
      closed: () => this.#drop(c),
    };
  }

  /** Drops silent connections and forgets long-empty rooms. Call every second or so. */
  sweep(): void {
    const now = this.#clock.now();
    for (const c of [...this.#conns]) {
      if (now - c.lastSeenMs > this.#livenessTimeoutMs) {
        this.#drop(c);
        c.conn.close(CLOSE_CODES.liveness, "liveness timeout");
      }
    }
    for (const [roomId, r] of this.#rooms) {
      if (r.room.size === 0 && r.emptySinceMs !== null && now - r.emptySinceMs > r.ttlMs) {
        this.#rooms.delete(roomId);
        this.#broadcast.forget(roomId);
      }
    }
    this.#guard.sweep(now);
  }

  /** Closes every connection. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const c of [...this.#conns]) {
      this.#drop(c);
      c.conn.close(CLOSE_CODES.shutdown, "server shutting down");
    }
    this.#rooms.clear();
    this.#broadcast.destroy();
  }

  #send(c: Conn, msg: Unversioned<SignalMessage>): void {
    if (!c.open) return;
    this.#sendText(c, JSON.stringify({ ...msg, v: PROTOCOL_VERSION }));
  }

  #sendText(c: Conn, text: string): void {
    if (!c.open) return;
    try {
      c.conn.send(text);
    } catch {
      this.#drop(c);
      return;
    }
    const buffered = c.conn.bufferedBytes?.() ?? 0;
    if (buffered > this.#limits.maxSendBufferBytes) {
      this.#drop(c);
      c.conn.close(CLOSE_CODES.slowConsumer, "ERR_SLOW_CONSUMER: send buffer full");
    }
  }

  #error(c: Conn, code: MeshErrorCode, message: string, ref?: string): void {
    this.#send(c, { type: "error", code, message, ...(ref === undefined ? {} : { ref }) });
  }

  #admit(c: Conn, sizeBytes: number): boolean {
    if (!c.open) return false;
    const now = this.#clock.now();
    c.lastSeenMs = now;
    const rate = this.#limits.maxMessagesPerSecond;
    c.tokens = Math.min(rate, c.tokens + ((now - c.tokensAtMs) * rate) / 1000);
    c.tokensAtMs = now;
    if (c.tokens < 1) {
      if (now - c.lastRateErrorMs >= 1000) {
        c.lastRateErrorMs = now;
        this.#error(
          c,
          "ERR_RATE_LIMITED",
          `more than ${rate} messages per second; message dropped`,
        );
      }
      return false;
    }
    c.tokens -= 1;
    if (sizeBytes > this.#limits.maxMessageBytes) {
      this.#error(
        c,
        "ERR_MESSAGE_TOO_LARGE",
        `message of ${sizeBytes} bytes exceeds ${this.#limits.maxMessageBytes}`,
      );
      return false;
    }
    return true;
  }

  #receiveBinary(c: Conn, sizeBytes: number): void {
    if (this.#admit(c, sizeBytes))
      this.#error(
        c,
        "ERR_PROTOCOL_DECODE",
        "binary messages are not part of the signaling protocol",
      );
  }

  #receive(c: Conn, text: string, sizeBytes: number): void {
    if (!this.#admit(c, sizeBytes)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.#error(c, "ERR_PROTOCOL_DECODE", "message is not JSON");
      return;
    }
    const d = decodeSignal(parsed);
    if (!d.ok) {
      this.#error(c, d.error.code, d.error.message);
      if (d.error.code === "ERR_PROTOCOL_VERSION" && c.room === null) {
        this.#drop(c);
        c.conn.close(CLOSE_CODES.version, "unsupported protocol version");
      }
      return;
    }
    this.#handle(c, d.msg);
  }

  #handle(c: Conn, msg: SignalMessage): void {
    switch (msg.type) {
      case "ping":
        this.#send(c, { type: "pong", t: msg.t });
        return;
      case "create":
        this.#create(c, msg.model, msg.token);
        return;
      case "join":
        this.#join(c, msg);
        return;
      case "leave":
        if (c.room !== null) this.#leaveRoom(c);
        return;
      case "caps":
      case "ready":
      case "request":
      case "release":
      case "signal":
      case "report":
        this.#member(c, msg);
        return;
      case "created":
      case "joined":
      case "queued":
      case "granted":
      case "state":
      case "pong":
      case "error":
        this.#error(
          c,
          "ERR_PROTOCOL_UNKNOWN",
          `"${msg.type}" is a server-to-client message`,
          msg.type,
        );
        return;
      default:
        assertNever(msg);
    }
  }

  #create(c: Conn, model: ModelInfo, token: string | undefined): void {
    const now = this.#clock.now();
    const address = c.conn.address ?? "unknown";
    const verdict = this.#guard.check(now, address, c.roomsCreated, model, token);
    if (!verdict.ok) {
      this.#error(c, verdict.code, verdict.message, "create");
      return;
    }
    if (this.#rooms.size >= this.#limits.maxRooms) {
      this.#error(c, "ERR_ROOM_FULL", "the server has too many rooms", "create");
      return;
    }
    this.#guard.spend(now, address);
    c.roomsCreated++;
    const created = this.#newRoom(verdict.model, this.#unjoinedRoomTtlMs, false);
    this.#send(c, { type: "created", ...created });
  }

  #newRoom(
    model: ModelInfo,
    ttlMs: number,
    joinedOnce: boolean,
  ): { roomId: string; secret: string } {
    let roomId = this.#randomId(10);
    while (this.#rooms.has(roomId)) roomId = this.#randomId(10);
    const secret = this.#randomId(22);
    this.#rooms.set(roomId, {
      room: new Room(roomId, secret, model),
      emptySinceMs: this.#clock.now(),
      ttlMs,
      joinedOnce,
    });
    return { roomId, secret };
  }

  /** Capabilities above the size cap are refused (they would be relayed to every member). */
  #capsTooLarge(c: Conn, caps: unknown, ref: string): boolean {
    const bytes = byteLength(JSON.stringify(caps));
    if (bytes <= this.#limits.maxCapsBytes) return false;
    this.#error(
      c,
      "ERR_MESSAGE_TOO_LARGE",
      `capabilities of ${bytes} bytes exceed ${this.#limits.maxCapsBytes}`,
      ref,
    );
    return true;
  }

  #join(c: Conn, msg: Extract<SignalMessage, { type: "join" }>): void {
    if (negotiateVersion(msg.v, msg.minV) === null) {
      this.#error(
        c,
        "ERR_PROTOCOL_VERSION",
        `client speaks v${msg.minV}..v${msg.v}, server v${PROTOCOL_VERSION}`,
        "join",
      );
      this.#drop(c);
      c.conn.close(CLOSE_CODES.version, "unsupported protocol version");
      return;
    }
    if (c.room !== null) {
      this.#error(c, "ERR_PROTOCOL_DECODE", "already in a room; leave first", "join");
      return;
    }
    const r = this.#rooms.get(msg.roomId);
    if (r === undefined) {
      this.#error(c, "ERR_ROOM_NOT_FOUND", `no room ${msg.roomId}`, "join");
      return;
    }
    if (!sameSecret(r.room.secret, msg.secret)) {
      this.#error(c, "ERR_ROOM_SECRET", "wrong room secret", "join");
      return;
    }
    if (this.#capsTooLarge(c, msg.caps, "join")) return;
    if (r.room.size >= this.#limits.maxPeersPerRoom) {
      this.#error(c, "ERR_ROOM_FULL", `room has ${this.#limits.maxPeersPerRoom} peers`, "join");
      return;
    }
    let peerId = this.#randomId(8);
    while (r.room.has(peerId)) peerId = this.#randomId(8);
    c.room = r.room;
    c.peerId = peerId;
    r.emptySinceMs = null;
    if (!r.joinedOnce) {
      r.joinedOnce = true;
      r.ttlMs = this.#emptyRoomTtlMs;
    }
    const notices = r.room.join(peerId, msg.role, msg.caps);
    this.#send(c, {
      type: "joined",
      peerId,
      state: publicState(r.room.state()),
      iceServers: this.#iceServers,
      heartbeatMs: this.#heartbeatMs,
      livenessTimeoutMs: this.#livenessTimeoutMs,
    });
    this.#publish(r.room, notices);
  }

  #member(
    c: Conn,
    msg: Extract<
      SignalMessage,
      { type: "caps" | "ready" | "request" | "release" | "signal" | "report" }
    >,
  ): void {
    const room = c.room;
    const peerId = c.peerId;
    if (room === null || peerId === null) {
      this.#error(
        c,
        "ERR_NOT_IN_ROOM",
        `"${msg.type}" needs room membership; join first`,
        msg.type,
      );
      return;
    }
    switch (msg.type) {
      case "caps":
        if (this.#capsTooLarge(c, msg.caps, "caps")) return;
        this.#publish(room, room.setCaps(peerId, msg.caps));
        return;
      case "ready":
        room.setLoaded(peerId, msg);
        this.#publish(room, []);
        return;
      case "request":
        this.#publish(room, room.request(peerId));
        return;
      case "release":
        this.#publish(room, room.release(peerId));
        return;
      case "signal": {
        const to = msg.to === undefined ? undefined : this.#connOf(room, msg.to);
        if (to === undefined) {
          this.#error(
            c,
            "ERR_NOT_IN_ROOM",
            `peer ${msg.to ?? "(none)"} is not in this room`,
            "signal",
          );
          return;
        }
        this.#send(to, { type: "signal", from: peerId, connId: msg.connId, data: msg.data });
        return;
      }
      case "report":
        this.#report(c, room, peerId, msg);
        return;
      default:
        assertNever(msg);
    }
  }

  /**
   * The active head reports a stage of its plan: that member is told (ERR_EVICTED, naming the head's code),
   * closed, and leaves the room as on a disconnect (the room repairs the plan). Anything else is refused
   * with ERR_REPORT_REFUSED and changes nothing.
   */
  #report(
    c: Conn,
    room: Room,
    reporter: string,
    msg: Extract<SignalMessage, { type: "report" }>,
  ): void {
    const refusal = room.reportRefusal(reporter, msg.peerId);
    const target = refusal === null ? this.#connOf(room, msg.peerId) : undefined;
    if (refusal !== null || target === undefined) {
      this.#error(
        c,
        "ERR_REPORT_REFUSED",
        refusal ?? `peer ${msg.peerId} is not connected`,
        "report",
      );
      return;
    }
    this.#send(target, {
      type: "error",
      code: "ERR_EVICTED",
      message: `the room's head reported ${msg.code}: ${msg.message}`,
    });
    this.#drop(target);
    target.conn.close(CLOSE_CODES.evicted, `ERR_EVICTED: reported ${msg.code}`);
  }

  #connOf(room: Room, peerId: string): Conn | undefined {
    for (const c of this.#conns) if (c.room === room && c.peerId === peerId) return c;
    return undefined;
  }

  /** Targeted notices now; the state to every member once per tick, and only if it changed. */
  #publish(room: Room, notices: RoomNotice[]): void {
    for (const n of notices) {
      const to = this.#connOf(room, n.to);
      if (to === undefined) continue;
      if (n.type === "queued") this.#send(to, { type: "queued", position: n.position });
      else this.#send(to, { type: "granted", planVersion: n.planVersion });
    }
    this.#broadcast.changed(room.roomId);
  }

  #leaveRoom(c: Conn): void {
    const room = c.room;
    const peerId = c.peerId;
    c.room = null;
    c.peerId = null;
    if (room === null || peerId === null) return;
    const notices = room.leave(peerId);
    const r = this.#rooms.get(room.roomId);
    if (r !== undefined && room.size === 0) r.emptySinceMs = this.#clock.now();
    this.#publish(room, notices);
  }

  #drop(c: Conn): void {
    if (!c.open) return;
    c.open = false;
    this.#conns.delete(c);
    if (c.room !== null) this.#leaveRoom(c);
  }
}

function byteLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    n += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code <= 0xdbff ? 2 : 3;
  }
  return n;
}

function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
