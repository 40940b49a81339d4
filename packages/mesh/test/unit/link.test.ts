// Link over in-memory channels: hello and version negotiation, chunking, backpressure, the control lane
// overtaking queued data, heartbeats and the liveness timeout, and coded handling of bad input.
import { describe, expect, it } from "vitest";
import { MeshError } from "../../src/errors.ts";
import type { ByteChannel, ByteChannelEvents } from "../../src/transport/channel.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { Link, type LinkMessage } from "../../src/transport/link.ts";
import { createMemoryChannelPair, createMemoryLinkPair } from "../../src/transport/memory-link.ts";
import { encodeMessage, toFrames, decodeMessage, Reassembler } from "../../src/protocol/frame.ts";
import { SimClock } from "../support/sim-clock.ts";

function collect(link: Link): {
  msgs: { msg: LinkMessage; body: Uint8Array }[];
  closed: MeshError[];
} {
  const out = { msgs: [] as { msg: LinkMessage; body: Uint8Array }[], closed: [] as MeshError[] };
  link.listen({
    message: (msg, body) => out.msgs.push({ msg, body }),
    close: (e) => out.closed.push(e),
  });
  return out;
}

/** Wraps a channel: records the largest bufferedAmount seen at send time, and can go silent (a killed peer). */
class Probe implements ByteChannel {
  maxBuffered = 0;
  dead = false;
  readonly inner: ByteChannel;
  constructor(inner: ByteChannel) {
    this.inner = inner;
  }
  get maxMessageBytes(): number {
    return this.inner.maxMessageBytes;
  }
  bufferedAmount(): number {
    return this.inner.bufferedAmount();
  }
  listen(events: ByteChannelEvents): void {
    this.inner.listen({ ...events, message: (b) => (this.dead ? undefined : events.message(b)) });
  }
  send(bytes: Uint8Array): void {
    this.maxBuffered = Math.max(this.maxBuffered, this.inner.bufferedAmount());
    if (!this.dead) this.inner.send(bytes);
  }
  close(): void {
    if (!this.dead) this.inner.close();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("Link", () => {
  it("agrees on a version and carries messages both ways", async () => {
    const [a, b] = createMemoryLinkPair("a", "b");
    const rb = collect(b);
    await Promise.all([a.ready, b.ready]);
    expect(a.version).toBe(PROTOCOL_VERSION);
    a.send({ type: "kv", op: { op: "clear" } });
    a.send({ type: "cancel", runIds: [4] }, undefined, "control");
    await tick();
    expect(rb.msgs.map((m) => m.msg)).toEqual([
      { type: "kv", v: 2, op: { op: "clear" } },
      { type: "cancel", v: 2, runIds: [4] },
    ]);
    a.destroy();
    b.destroy();
  });

  it("refuses a peer that speaks another protocol version", async () => {
    const [ca, cb] = createMemoryChannelPair();
    const a = new Link(ca, { localId: "a", remoteId: "b", announce: { v: 99, minV: 99 } });
    const b = new Link(cb, { localId: "b", remoteId: "a" });
    const rb = collect(b);
    collect(a);
    await expect(b.ready).rejects.toMatchObject({ code: "ERR_PROTOCOL_VERSION" });
    await expect(a.ready).rejects.toBeInstanceOf(MeshError);
    expect(rb.closed[0]?.code).toBe("ERR_PROTOCOL_VERSION");
    expect(b.open).toBe(false);
  });

  it("refuses a peer that claims another identity", async () => {
    const [ca, cb] = createMemoryChannelPair();
    const a = new Link(ca, { localId: "mallory", remoteId: "b" });
    const b = new Link(cb, { localId: "b", remoteId: "a" });
    collect(a);
    await expect(b.ready).rejects.toMatchObject({ code: "ERR_PEER_CONNECT" });
  });

  it("chunks large bodies, respects the high-water mark and lets control overtake queued data", async () => {
    const [ca, cb] = createMemoryChannelPair();
    const probe = new Probe(ca);
    const a = new Link(probe, { localId: "a", remoteId: "b", highWaterBytes: 512 * 1024 });
    const b = new Link(cb, { localId: "b", remoteId: "a" });
    const order: string[] = [];
    b.listen({ message: (m) => order.push(m.type), close: () => {} });
    await Promise.all([a.ready, b.ready]);
    const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    a.send({ type: "result", runId: 1, stageComputeMs: 0, outputs: [] }, body);
    expect(a.queuedBytes()).toBeGreaterThan(2 * 1024 * 1024);
    a.send({ type: "cancel", runIds: [2] }, undefined, "control");
    const received: Uint8Array[] = [];
    b.listen({
      message: (m, bytes) => {
        order.push(m.type);
        if (m.type === "result") received.push(bytes);
      },
      close: () => {},
    });
    await a.whenWritable(0);
    await tick();
    expect(order).toEqual(["cancel", "result"]);
    expect(Buffer.compare(received[0]!, body)).toBe(0);
    // Data frames leave only below the mark; one control frame may go on top of a full buffer.
    expect(probe.maxBuffered).toBeLessThan(512 * 1024 + 256 * 1024);
    a.destroy();
    b.destroy();
  });

  it("fails with ERR_PEER_LOST when the peer goes silent, within the liveness timeout", async () => {
    const clock = new SimClock();
    const [ca, cb] = createMemoryChannelPair();
    const probe = new Probe(cb);
    const a = new Link(ca, {
      localId: "a",
      remoteId: "b",
      clock,
      heartbeatIntervalMs: 500,
      peerTimeoutMs: 2000,
    });
    const b = new Link(probe, {
      localId: "b",
      remoteId: "a",
      clock,
      heartbeatIntervalMs: 500,
      peerTimeoutMs: 2000,
    });
    const ra = collect(a);
    collect(b);
    await clock.advance(5000); // heartbeats keep both alive
    expect(ra.closed).toEqual([]);
    expect(a.stats.rttMs).not.toBeNull();
    probe.dead = true; // killed: no close, no bytes
    const killedAt = clock.now();
    while (ra.closed.length === 0 && clock.now() - killedAt < 10_000) await clock.advance(100);
    expect(ra.closed[0]?.code).toBe("ERR_PEER_LOST");
    expect(ra.closed[0]?.details).toMatchObject({ peerId: "b" });
    expect(clock.now() - killedAt).toBeLessThanOrEqual(2600);
    b.destroy();
  });

  it("tells the remote a polite goodbye, and destroy is idempotent", async () => {
    const [a, b] = createMemoryLinkPair("a", "b");
    const rb = collect(b);
    await Promise.all([a.ready, b.ready]);
    a.destroy("tab closed");
    a.destroy();
    await tick();
    expect(rb.closed[0]).toMatchObject({
      code: "ERR_PEER_LOST",
      details: { peerId: "a", polite: true },
    });
    expect(() => a.send({ type: "cancel", runIds: [1] })).toThrow(/ERR_PEER_DESTROYED/);
    await expect(a.whenWritable()).rejects.toMatchObject({ code: "ERR_PEER_DESTROYED" });
  });

  it("answers a malformed header with a coded error and keeps the link; a corrupt frame ends it", async () => {
    const [ca, cb] = createMemoryChannelPair();
    const a = new Link(ca, { localId: "a", remoteId: "b" });
    const ra = collect(a);
    const fromA: unknown[] = [];
    const r = new Reassembler();
    cb.listen({
      message: (bytes) => {
        const p = r.push(bytes);
        if (p !== null) fromA.push(decodeMessage(p).header);
      },
      close: () => {},
      drain: () => {},
    });
    let id = 1;
    const raw = (header: object, body?: Uint8Array): void => {
      for (const f of toFrames(encodeMessage(header, body), id++)) cb.send(f);
    };
    raw({ type: "hello", v: 2, minV: 2, peerId: "b" });
    await a.ready;
    raw({ type: "cancel", v: 2, runIds: "everything" });
    raw({ type: "skip", v: 2, runId: 3, stageComputeMs: 0 }, Uint8Array.of(1, 2, 3));
    raw({ type: "hello", v: 2, minV: 2, peerId: "b" });
    raw({ type: "skip", v: 2, runId: 4, stageComputeMs: 0 });
    await tick();
    const errors = fromA.filter(
      (h): h is { type: "error"; code: string } => (h as { type?: string }).type === "error",
    );
    expect(errors.map((e) => e.code)).toEqual([
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
      "ERR_PROTOCOL_DECODE",
    ]);
    expect(ra.msgs.map((m) => m.msg)).toEqual([
      { type: "skip", v: 2, runId: 4, stageComputeMs: 0 },
    ]);
    expect(a.stats.rejectedMessages).toBe(3);
    expect(a.open).toBe(true);
    cb.send(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17));
    await tick();
    expect(ra.closed[0]?.code).toBe("ERR_FRAME");
    expect(a.open).toBe(false);
  });
});
