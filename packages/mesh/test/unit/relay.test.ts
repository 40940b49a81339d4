// Signaling relay rules (signaling/relay.ts + room/room.ts) with fake connections and a virtual clock:
// rooms and secrets, relay only inside a room, limits, liveness, coded errors, plan and queue.
import { describe, expect, it } from "vitest";
import { Relay, type RelayOptions } from "../../src/signaling/relay.ts";
import type { PeerCapabilities, RoomState, SignalMessage } from "../../src/protocol/messages.ts";
import { SimClock } from "../support/sim-clock.ts";

const MB = 1024 * 1024;
const model = { id: "toy", layerCount: 4, layerBytes: MB, embedBytes: 0, headBytes: 0 };
const caps = (gflops = 1, budgetMb = 64): PeerCapabilities => ({
  platform: "node",
  adapter: { description: "test", limits: {} },
  memoryBudgetBytes: budgetMb * MB,
  matmulGflops: gflops,
  models: [],
});

interface Client {
  received: SignalMessage[];
  closedWith: number | null;
  send(msg: object): void;
  raw(text: string): void;
  last<T extends SignalMessage["type"]>(type: T): Extract<SignalMessage, { type: T }>;
  errors(): string[];
}

function setup(options: RelayOptions = {}) {
  const clock = new SimClock();
  let n = 0;
  const relay = new Relay({
    clock,
    broadcastTickMs: 0,
    randomId: (chars) =>
      `id${(n++).toString().padStart(chars - 2, "0")}`.slice(0, Math.max(chars, 4)),
    ...options,
  });
  const connect = (): Client => {
    const c: Client = {
      received: [],
      closedWith: null,
      send: (msg) => session.receive(JSON.stringify({ v: 2, ...msg })),
      raw: (text) => session.receive(text),
      last(type) {
        const hit = [...c.received].reverse().find((m) => m.type === type);
        if (hit === undefined)
          throw new Error(`no ${type} received; got ${c.received.map((m) => m.type).join(",")}`);
        return hit as Extract<SignalMessage, { type: typeof type }>;
      },
      errors: () => c.received.flatMap((m) => (m.type === "error" ? [m.code] : [])),
    };
    const session = relay.open({
      send: (text) => c.received.push(JSON.parse(text) as SignalMessage),
      close: (code) => {
        c.closedWith = code;
      },
    });
    return c;
  };
  const room = (): { roomId: string; secret: string } => {
    const c = connect();
    c.send({ type: "create", model });
    const created = c.last("created");
    return { roomId: created.roomId, secret: created.secret };
  };
  const join = (
    r: { roomId: string; secret: string },
    role: "head" | "stage" = "stage",
    gflops = 1,
  ): Client & { peerId: string } => {
    const c = connect();
    c.send({ type: "join", minV: 2, ...r, role, caps: caps(gflops) });
    return Object.assign(c, { peerId: c.last("joined").peerId });
  };
  const state = (c: Client): RoomState => {
    const last = [...c.received].reverse().find((m) => m.type === "state" || m.type === "joined");
    if (last?.type === "state" || last?.type === "joined") return last.state;
    throw new Error("no state");
  };
  return { relay, clock, connect, room, join, state };
}

describe("relay: rooms", () => {
  it("creates a room with an id and a secret, and admits members who know the secret", () => {
    const { room, join, state, relay } = setup();
    const r = room();
    expect(r.secret.length).toBeGreaterThanOrEqual(16);
    const a = join(r);
    const b = join(r);
    expect(state(a).members.map((m) => m.peerId)).toEqual([a.peerId, b.peerId]);
    expect(b.last("joined").iceServers).toEqual([]);
    expect(relay.stats()).toMatchObject({ rooms: 1, members: 2 });
  });

  it("refuses a wrong secret, an unknown room and a full room with coded errors", () => {
    const { room, join, connect } = setup({ limits: { maxPeersPerRoom: 2 } });
    const r = room();
    const c = connect();
    c.send({
      type: "join",
      minV: 2,
      roomId: r.roomId,
      secret: "wrongwrongwrong",
      role: "stage",
      caps: caps(),
    });
    c.send({
      type: "join",
      minV: 2,
      roomId: "nosuchroom",
      secret: r.secret,
      role: "stage",
      caps: caps(),
    });
    join(r);
    join(r);
    c.send({ type: "join", minV: 2, ...r, role: "stage", caps: caps() });
    expect(c.errors()).toEqual(["ERR_ROOM_SECRET", "ERR_ROOM_NOT_FOUND", "ERR_ROOM_FULL"]);
    expect(c.closedWith).toBeNull();
  });

  it("refuses an incompatible protocol version and closes", () => {
    const { room, connect } = setup();
    const r = room();
    const c = connect();
    c.raw(JSON.stringify({ type: "join", v: 99, minV: 99, ...r, role: "stage", caps: caps() }));
    expect(c.errors()).toEqual(["ERR_PROTOCOL_VERSION"]);
    expect(c.closedWith).toBe(4001);
  });

  it("relays signals only between members of the same room", () => {
    const { room, join } = setup();
    const r1 = room();
    const r2 = room();
    const a = join(r1);
    const b = join(r1);
    const x = join(r2);
    const offer = { type: "offer", sdp: "v=0" };
    a.send({ type: "signal", to: b.peerId, connId: "1/a/b", data: offer });
    expect(b.last("signal")).toEqual({
      type: "signal",
      v: 2,
      from: a.peerId,
      connId: "1/a/b",
      data: offer,
    });
    a.send({ type: "signal", to: x.peerId, connId: "1/a/x", data: offer });
    expect(a.errors()).toEqual(["ERR_NOT_IN_ROOM"]);
    expect(x.received.some((m) => m.type === "signal")).toBe(false);
  });

  it("needs membership for room actions", () => {
    const { connect } = setup();
    const c = connect();
    c.send({ type: "signal", to: "someone", connId: "c", data: { type: "offer", sdp: "x" } });
    c.send({ type: "request" });
    c.send({ type: "ready", layerStart: 0, layerEnd: 1 });
    expect(c.errors()).toEqual(["ERR_NOT_IN_ROOM", "ERR_NOT_IN_ROOM", "ERR_NOT_IN_ROOM"]);
  });

  it("answers malformed, oversized, binary and misdirected messages with errors and keeps serving", () => {
    const { room, join, relay } = setup({ limits: { maxMessageBytes: 1000 } });
    const r = room();
    const a = join(r);
    const b = join(r);
    a.raw("{not json");
    a.raw(JSON.stringify({ type: "ping", v: 2, t: "soon" }));
    a.raw(JSON.stringify({ type: "warp", v: 2 }));
    a.raw(JSON.stringify({ type: "ping", v: 2, t: 1, pad: "x".repeat(2000) }));
    a.send({ type: "state", state: {} });
    relay.open({ send: () => {}, close: () => {} }).receiveBinary(10);
    expect(a.errors()).toEqual([
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_UNKNOWN",
      "ERR_MESSAGE_TOO_LARGE",
      "ERR_PROTOCOL_DECODE",
    ]);
    a.send({ type: "ping", t: 5 });
    expect(a.last("pong").t).toBe(5);
    expect(b.errors()).toEqual([]);
    expect(relay.stats().members).toBe(2);
  });

  it("rate-limits a flooding connection without affecting others", async () => {
    const { room, join, clock } = setup({ limits: { maxMessagesPerSecond: 20 } });
    const r = room();
    const a = join(r);
    const b = join(r);
    for (let i = 0; i < 60; i++) a.send({ type: "ping", t: i });
    const pongs = a.received.filter((m) => m.type === "pong").length;
    expect(pongs).toBeLessThanOrEqual(20);
    expect(a.errors()).toEqual(["ERR_RATE_LIMITED"]);
    b.send({ type: "ping", t: 1 });
    expect(b.last("pong").t).toBe(1);
    await clock.advance(1000);
    a.send({ type: "ping", t: 99 });
    expect(a.last("pong").t).toBe(99);
  });

  it("drops silent connections after the liveness timeout and tells the room", async () => {
    const { room, join, state, relay, clock } = setup({ livenessTimeoutMs: 3000 });
    const r = room();
    const a = join(r);
    const b = join(r);
    await clock.advance(2000);
    a.send({ type: "ping", t: 1 });
    await clock.advance(2000);
    relay.sweep();
    expect(b.closedWith).toBe(4000);
    expect(a.closedWith).toBeNull();
    expect(state(a).members.map((m) => m.peerId)).toEqual([a.peerId]);
  });

  it("forgets rooms nobody joined", async () => {
    const { room, relay, clock } = setup({ unjoinedRoomTtlMs: 5000, emptyRoomTtlMs: 60_000 });
    room();
    relay.sweep();
    expect(relay.stats().rooms).toBe(1);
    await clock.advance(6000);
    relay.sweep();
    expect(relay.stats().rooms).toBe(0);
  });
});

describe("relay: plan and queue", () => {
  it("plans over stage peers, grants the head, and queues a second head with its position", () => {
    const { room, join, state } = setup();
    const r = room();
    const s1 = join(r, "stage", 1);
    const s2 = join(r, "stage", 3);
    let st = state(s1);
    expect(st.plan?.stages).toEqual([
      { peerId: s1.peerId, layerStart: 0, layerEnd: 1 },
      { peerId: s2.peerId, layerStart: 1, layerEnd: 4 },
    ]);
    const v0 = st.plan?.version ?? -1;
    const h1 = join(r, "head");
    const h2 = join(r, "head");
    h1.send({ type: "request" });
    expect(h1.last("granted").planVersion).toBeGreaterThan(v0);
    h2.send({ type: "request" });
    expect(h2.last("queued").position).toBe(1);
    st = state(s1);
    expect(st.active).toBe(h1.peerId);
    expect(st.queue).toEqual([h2.peerId]);
    expect(st.plan?.headId).toBe(h1.peerId);
    expect(st.plan?.stages[0]).toEqual({ peerId: h1.peerId, layerStart: 0, layerEnd: 0 });
    expect(st.ready).toBe(false);
    s1.send({ type: "ready", layerStart: 0, layerEnd: 1 });
    s2.send({ type: "ready", layerStart: 1, layerEnd: 4 });
    h1.send({ type: "ready", layerStart: 0, layerEnd: 0 });
    expect(state(s1).ready).toBe(true);
    h1.send({ type: "release" });
    expect(h2.last("granted").planVersion).toBeGreaterThan(st.plan?.version ?? 0);
    st = state(s1);
    expect(st.active).toBe(h2.peerId);
    expect(st.plan?.headId).toBe(h2.peerId);
    // Stage ranges did not change, so the stages stay loaded; only the new head must report.
    expect(st.ready).toBe(false);
    h2.send({ type: "ready", layerStart: 0, layerEnd: 0 });
    expect(state(s1).ready).toBe(true);
  });

  it("keeps the plan of a running generation when a peer joins, and re-plans for the next request", () => {
    const { room, join, state } = setup();
    const r = room();
    const s1 = join(r);
    const h = join(r, "head");
    h.send({ type: "request" });
    s1.send({ type: "ready", layerStart: 0, layerEnd: 4 });
    h.send({ type: "ready", layerStart: 0, layerEnd: 0 });
    const running = state(s1).plan;
    expect(state(s1).ready).toBe(true);
    const s2 = join(r);
    expect(state(s2).plan).toEqual(running);
    h.send({ type: "release" });
    const next = state(s1).plan;
    expect(next?.version).toBeGreaterThan(running?.version ?? 0);
    expect(next?.stages.map((s) => s.peerId)).toEqual([s1.peerId, s2.peerId]);
  });

  it("repairs the plan at once when a stage of the running plan leaves (the survivor extends)", () => {
    const { room, join, state, relay } = setup();
    const r = room();
    const s1 = join(r);
    const s2 = join(r);
    const h = join(r, "head");
    h.send({ type: "request" });
    s1.send({ type: "ready", layerStart: 0, layerEnd: 2 });
    s2.send({ type: "ready", layerStart: 2, layerEnd: 4 });
    h.send({ type: "ready", layerStart: 0, layerEnd: 0 });
    const before = state(h).plan;
    s2.send({ type: "leave" });
    const after = state(h).plan;
    expect(after?.version).toBeGreaterThan(before?.version ?? 0);
    expect(after?.stages).toEqual([
      { peerId: h.peerId, layerStart: 0, layerEnd: 0 },
      { peerId: s1.peerId, layerStart: 0, layerEnd: 4 },
    ]);
    expect(relay.room(r.roomId)?.lastRepair).toBe("extend");
    expect(state(h).ready).toBe(false);
  });

  it("reports an impossible plan in the state", () => {
    const { room, join, state } = setup();
    const r = room();
    const c = join(r, "stage", 0);
    expect(state(c).plan).toBeNull();
    expect(state(c).planError?.code).toBe("ERR_PLAN_IMPOSSIBLE");
  });

  it("hands the slot on when the active head goes silent", async () => {
    const { room, join, state, relay, clock } = setup({ livenessTimeoutMs: 1000 });
    const r = room();
    join(r);
    const h1 = join(r, "head");
    const h2 = join(r, "head");
    h1.send({ type: "request" });
    h2.send({ type: "request" });
    expect(h2.last("queued").position).toBe(1);
    await clock.advance(800);
    h2.send({ type: "ping", t: 1 }); // h2 stays alive, h1 says nothing
    await clock.advance(800);
    relay.sweep();
    expect(h1.closedWith).toBe(4000);
    expect(state(h2).active).toBe(h2.peerId);
    expect(h2.last("granted").planVersion).toBe(state(h2).plan?.version);
  });
});

describe("relay: reports and eviction", () => {
  /** Two stages (2 layers each), a third that joined during the generation (idle), an active head. */
  function running() {
    const t = setup();
    const r = t.room();
    const s1 = t.join(r);
    const s2 = t.join(r);
    const h = t.join(r, "head");
    h.send({ type: "request" });
    s1.send({ type: "ready", layerStart: 0, layerEnd: 2 });
    s2.send({ type: "ready", layerStart: 2, layerEnd: 4 });
    h.send({ type: "ready", layerStart: 0, layerEnd: 0 });
    expect(t.state(h).ready).toBe(true);
    const idle = t.join(r);
    return { ...t, r, s1, s2, h, idle };
  }
  const report = (peerId: string, code = "ERR_PEER_LOST") => ({
    type: "report",
    peerId,
    code,
    message: "no heartbeat for 2.5 s",
  });

  it("evicts the reported stage: it is told why, closed with 4003, and the plan is repaired", () => {
    const { h, s1, s2, idle, state, relay, r } = running();
    const before = state(h).plan;
    h.send(report(s2.peerId));
    const told = s2.last("error");
    expect(told.code).toBe("ERR_EVICTED");
    expect(told.message).toContain("ERR_PEER_LOST");
    expect(told.message).toContain("no heartbeat");
    expect(s2.closedWith).toBe(4003);
    const st = state(h);
    expect(st.members.map((m) => m.peerId)).not.toContain(s2.peerId);
    expect(st.plan?.version).toBeGreaterThan(before?.version ?? Infinity);
    expect(st.plan?.stages).toEqual([
      { peerId: h.peerId, layerStart: 0, layerEnd: 0 },
      { peerId: s1.peerId, layerStart: 0, layerEnd: 2 },
      { peerId: idle.peerId, layerStart: 2, layerEnd: 4 },
    ]);
    expect(relay.room(r.roomId)?.lastRepair).toBe("idle");
    expect(h.errors()).toEqual([]);
    // The evicted connection is gone: what it sends is not heard.
    s2.send({ type: "ready", layerStart: 2, layerEnd: 4 });
    expect(relay.stats().members).toBe(3);
  });

  it("refuses reports from anyone but the active head, and about anyone but a stage of its plan", () => {
    const { h, s1, s2, idle, join, r, state } = running();
    const other = join(r, "head");
    const plan = state(h).plan;
    const cases: [typeof h, string][] = [
      [other, s1.peerId], // a head that is not active
      [s1, s2.peerId], // a stage
      [h, h.peerId], // the head itself
      [h, idle.peerId], // a member without a stage
      [h, "nobody00"], // not a member
    ];
    for (const [from, target] of cases) {
      from.received.length = 0;
      from.send(report(target));
      const refused = from.last("error");
      expect(refused.code).toBe("ERR_REPORT_REFUSED");
      expect(refused.ref).toBe("report");
    }
    expect(s1.closedWith).toBeNull();
    expect(s2.closedWith).toBeNull();
    expect(idle.closedWith).toBeNull();
    expect(state(idle).plan).toEqual(plan);
    expect(state(idle).members).toHaveLength(5);
  });

  it("refuses a report from outside the room, and malformed reports", () => {
    const { h, s1, connect } = running();
    const outsider = connect();
    outsider.send(report(s1.peerId));
    expect(outsider.errors()).toEqual(["ERR_NOT_IN_ROOM"]);
    h.send(report(s1.peerId, "PEER_LOST"));
    h.send(report(s1.peerId, `ERR_${"X".repeat(41)}`));
    h.send({ ...report(s1.peerId), message: "x".repeat(1025) });
    h.send({ type: "report", peerId: s1.peerId, code: "ERR_PEER_LOST" });
    expect(h.errors()).toEqual([
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
    ]);
    expect(s1.closedWith).toBeNull();
  });

  it("records `ready` from an idle member without counting it towards the plan", () => {
    const { h, idle, state } = running();
    idle.send({ type: "ready", layerStart: 2, layerEnd: 4 });
    const st = state(h);
    expect(st.members.find((m) => m.peerId === idle.peerId)?.loaded).toEqual({
      layerStart: 2,
      layerEnd: 4,
    });
    expect(st.ready).toBe(true);
    expect(idle.errors()).toEqual([]);
  });
});
