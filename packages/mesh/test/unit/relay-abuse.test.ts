// The relay under abuse, with fake connections and a virtual clock: room-creation floods (quotas, address
// rate, short life of rooms nobody joined, known models only, create token), state-broadcast amplification
// (only on change, coalesced per tick, bulky caps kept out), capped caps and slow readers.
import { describe, expect, it } from "vitest";
import { Relay, type RelayOptions } from "../../src/signaling/relay.ts";
import type { ModelInfo, PeerCapabilities, SignalMessage } from "../../src/protocol/messages.ts";
import { SimClock } from "../support/sim-clock.ts";

const MB = 1024 * 1024;
const model: ModelInfo = { id: "toy", layerCount: 4, layerBytes: MB, embedBytes: 0, headBytes: 0 };

function caps(extraLimits = 0, gflops = 1): PeerCapabilities {
  const limits: Record<string, number> = {};
  for (let i = 0; i < extraLimits; i++) limits[`maxSomethingRatherLongLimitName${i}`] = 1e9 + i;
  return {
    platform: "node",
    adapter: { description: "test adapter".padEnd(200, "."), limits },
    memoryBudgetBytes: 64 * MB,
    matmulGflops: gflops,
    models: [],
    name: "member",
  };
}

interface Client {
  received: SignalMessage[];
  closed: { code: number; reason: string } | null;
  bytesIn: number;
  bytesOut: number;
  buffered: number;
  send(msg: object): void;
  errors(): string[];
  last<T extends SignalMessage["type"]>(type: T): Extract<SignalMessage, { type: T }> | undefined;
}

function setup(options: RelayOptions = {}) {
  const clock = new SimClock();
  const relay = new Relay({ clock, ...options });
  const connect = (address = "10.0.0.1"): Client => {
    const c: Client = {
      received: [],
      closed: null,
      bytesIn: 0,
      bytesOut: 0,
      buffered: 0,
      send(msg) {
        const text = JSON.stringify({ v: 2, ...msg });
        c.bytesOut += Buffer.byteLength(text);
        session.receive(text);
      },
      errors: () => c.received.flatMap((m) => (m.type === "error" ? [m.code] : [])),
      last(type) {
        return [...c.received].reverse().find((m) => m.type === type) as never;
      },
    };
    const session = relay.open({
      address,
      send: (text) => {
        c.bytesIn += Buffer.byteLength(text);
        c.received.push(JSON.parse(text) as SignalMessage);
      },
      close: (code, reason) => {
        c.closed = { code, reason };
      },
      bufferedBytes: () => c.buffered,
    });
    return c;
  };
  return { relay, clock, connect };
}

function create(
  c: Client,
  m: ModelInfo = model,
  token?: string,
): { roomId: string; secret: string } | null {
  const before = c.received.length;
  c.send({ type: "create", model: m, ...(token === undefined ? {} : { token }) });
  const reply = c.received.slice(before).find((x) => x.type === "created" || x.type === "error");
  return reply?.type === "created" ? { roomId: reply.roomId, secret: reply.secret } : null;
}

describe("relay: room creation under a flood", () => {
  it("a creation flood from one address leaves create working for a normal client", async () => {
    const { relay, clock, connect } = setup({
      limits: { maxRooms: 200, maxMessagesPerSecond: 1000 },
    });
    let created = 0;
    const flooders = Array.from({ length: 50 }, () => connect("203.0.113.9"));
    for (const f of flooders) for (let i = 0; i < 40; i++) if (create(f) !== null) created++;
    // The address's rate (20 per minute) stops the flood long before the server's room table fills.
    expect(created).toBe(20);
    expect(flooders[0]?.errors().every((e) => e === "ERR_RATE_LIMITED")).toBe(true);
    const normal = connect("198.51.100.7");
    expect(create(normal)).not.toBeNull();
    // Each minute the flooder may create 20 more, but rooms nobody joined are gone after two minutes.
    for (let minute = 0; minute < 30; minute++) {
      await clock.advance(60_000);
      relay.sweep();
      for (const f of flooders.slice(0, 5)) for (let i = 0; i < 10; i++) create(f);
      expect(relay.stats().rooms).toBeLessThanOrEqual(3 * 20 + 1);
    }
    const later = connect("198.51.100.8");
    expect(create(later)).not.toBeNull();
  });

  it("counts only rooms actually created against a connection's quota", () => {
    const { connect } = setup({ limits: { maxRoomsPerConnection: 2 } });
    const c = connect();
    c.send({ type: "create", model: { ...model, id: "../etc" } }); // malformed: refused, not counted
    expect(create(c)).not.toBeNull();
    expect(create(c)).not.toBeNull();
    expect(create(c)).toBeNull();
    expect(c.errors()).toEqual(["ERR_PROTOCOL_DECODE", "ERR_RATE_LIMITED"]);
    expect(create(connect())).not.toBeNull(); // another connection has its own quota
  });

  it("forgets rooms nobody ever joined after a short time; joined and server-made rooms live long", async () => {
    const { relay, clock, connect } = setup({
      unjoinedRoomTtlMs: 60_000,
      emptyRoomTtlMs: 3_600_000,
    });
    const c = connect();
    const unjoined = create(c);
    const joined = create(c);
    const served = relay.createRoom(model, { emptyTtlMs: 24 * 3_600_000 });
    if (joined === null || unjoined === null) throw new Error("create failed");
    const member = connect();
    member.send({ type: "join", minV: 2, ...joined, role: "stage", caps: caps() });
    member.send({ type: "leave" });
    await clock.advance(61_000);
    relay.sweep();
    expect(relay.room(unjoined.roomId)).toBeUndefined();
    expect(relay.room(joined.roomId)).toBeDefined();
    expect(relay.room(served.roomId)).toBeDefined();
    await clock.advance(3_600_000);
    relay.sweep();
    expect(relay.room(joined.roomId)).toBeUndefined();
    expect(relay.room(served.roomId)).toBeDefined();
  });

  it("creates rooms only for the models the server serves, with the server's sizes", () => {
    const served: ModelInfo = { ...model, id: "tiny/target", layerBytes: 7 * MB };
    const { relay, connect } = setup({ models: [served] });
    const c = connect();
    expect(create(c, { ...model, id: "something/else" })).toBeNull();
    expect(c.errors()).toEqual(["ERR_MODEL_UNKNOWN"]);
    const r = create(c, { ...model, id: "tiny/target", layerBytes: 1 });
    expect(r).not.toBeNull();
    expect(relay.room(r?.roomId ?? "")?.model).toEqual(served);
  });

  it("needs the create token when the server has one", () => {
    const { connect } = setup({ createToken: "open-sesame-0123456789" });
    const c = connect();
    expect(create(c)).toBeNull();
    expect(create(c, model, "wrong")).toBeNull();
    expect(c.errors()).toEqual(["ERR_UNAUTHORIZED", "ERR_UNAUTHORIZED"]);
    expect(create(c, model, "open-sesame-0123456789")).not.toBeNull();
  });
});

describe("relay: state broadcasts", () => {
  it("amplification stays under 10x bytes out per byte in", async () => {
    const { relay, clock, connect } = setup({ broadcastTickMs: 50 });
    const r = relay.createRoom(model);
    const members = Array.from({ length: 8 }, () => connect());
    for (const m of members) m.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps(40) });
    await clock.advance(100);
    const totals = (): { inBytes: number; outBytes: number } => ({
      inBytes: members.reduce((n, m) => n + m.bytesOut, 0),
      outBytes: members.reduce((n, m) => n + m.bytesIn, 0),
    });
    const base = totals();
    const attacker = members[0];
    if (attacker === undefined) throw new Error("no members");
    // Unchanged state: nothing is broadcast.
    for (let i = 0; i < 20; i++) attacker.send({ type: "ready", layerStart: 0, layerEnd: 1 });
    for (let i = 0; i < 20; i++) attacker.send({ type: "caps", caps: caps(40) });
    await clock.advance(100);
    // Changing state: coalesced into one broadcast per tick.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++)
        attacker.send({ type: "ready", layerStart: 0, layerEnd: (i % 3) + 1 });
      await clock.advance(1000);
    }
    const end = totals();
    const ratio = (end.outBytes - base.outBytes) / (end.inBytes - base.inBytes);
    expect(ratio).toBeLessThan(10);
    // Members see no adapter limits or model lists of the others.
    const st = members[1]?.last("state")?.state;
    expect(st?.members.every((m) => Object.keys(m.caps.adapter.limits).length === 0)).toBe(true);
  });

  it("refuses capabilities above the size cap", () => {
    const { relay, connect } = setup({ limits: { maxCapsBytes: 4096 } });
    const r = relay.createRoom(model);
    const c = connect();
    c.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps(200) });
    expect(c.errors()).toEqual(["ERR_MESSAGE_TOO_LARGE"]);
    c.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps(10) });
    expect(c.last("joined")).toBeDefined();
    c.send({ type: "caps", caps: caps(200) });
    expect(c.errors()).toEqual(["ERR_MESSAGE_TOO_LARGE", "ERR_MESSAGE_TOO_LARGE"]);
  });

  it("closes a member that stops reading once its send buffer passes the limit", async () => {
    const { relay, clock, connect } = setup({
      broadcastTickMs: 10,
      limits: { maxSendBufferBytes: 64 * 1024 },
    });
    const r = relay.createRoom(model);
    const slow = connect();
    slow.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps() });
    const busy = connect();
    busy.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps() });
    for (let i = 0; i < 200 && slow.closed === null; i++) {
      slow.buffered = slow.bytesIn; // reads nothing: everything sent is still buffered
      busy.send({ type: "ready", layerStart: 0, layerEnd: (i % 3) + 1 });
      await clock.advance(20);
    }
    expect(slow.closed?.code).toBe(4002);
    expect(slow.closed?.reason).toContain("ERR_SLOW_CONSUMER");
    expect(busy.closed).toBeNull();
    expect(relay.room(r.roomId)?.size).toBe(1);
  });
});
