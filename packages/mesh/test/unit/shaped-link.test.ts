// The user-space link shaper: fixed latency plus serialisation time at a bandwidth, order preserved,
// unsent bytes counted as bufferedAmount, drain when the queue empties.
import { describe, expect, it } from "vitest";
import { ShapedChannel, shapeChannel } from "../../src/transport/shaped-link.ts";
import { createMemoryChannelPair } from "../../src/transport/memory-link.ts";
import { SimClock } from "../support/sim-clock.ts";

function setup(latencyMs: number, bandwidthMbps: number) {
  const clock = new SimClock();
  const [a, b] = createMemoryChannelPair();
  const shaped = new ShapedChannel(a, { latencyMs, bandwidthMbps, clock });
  const arrivals: { atMs: number; first: number; bytes: number }[] = [];
  let drains = 0;
  shaped.listen({ message: () => {}, close: () => {}, drain: () => drains++ });
  b.listen({
    message: (m) => arrivals.push({ atMs: clock.now(), first: m[0] ?? -1, bytes: m.byteLength }),
    close: () => {},
    drain: () => {},
  });
  return { clock, shaped, arrivals, drains: () => drains };
}

describe("ShapedChannel", () => {
  it("adds latency plus serialisation time and keeps order", async () => {
    // 8 Mbit/s = 1000 bytes per ms.
    const { clock, shaped, arrivals } = setup(10, 8);
    shaped.send(new Uint8Array(5000).fill(1)); // leaves at 5 ms, arrives at 15 ms
    shaped.send(new Uint8Array(1000).fill(2)); // queued behind: leaves at 6 ms, arrives at 16 ms
    expect(shaped.bufferedAmount()).toBe(6000);
    await clock.advance(5);
    expect(shaped.bufferedAmount()).toBe(1000);
    await clock.advance(20);
    expect(arrivals.map((x) => [x.atMs, x.first])).toEqual([
      [15, 1],
      [16, 2],
    ]);
    expect(shaped.bufferedAmount()).toBe(0);
    shaped.send(Uint8Array.of(3)); // an idle link: latency only (plus 1 byte)
    await clock.advance(20);
    expect(arrivals[2]?.atMs).toBeCloseTo(25 + 10.001, 3);
  });

  it("delivers in order with latency only, and reports drain", async () => {
    const { clock, shaped, arrivals, drains } = setup(30, 0);
    for (let i = 0; i < 50; i++) shaped.send(Uint8Array.of(i));
    expect(shaped.bufferedAmount()).toBe(0); // unlimited bandwidth: nothing waits to leave
    await clock.advance(29);
    expect(arrivals.length).toBe(0);
    await clock.advance(1);
    expect(arrivals.map((x) => x.first)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(drains()).toBeGreaterThan(0);
  });

  it("is a no-op wrapper when nothing is shaped", () => {
    const [a] = createMemoryChannelPair();
    expect(shapeChannel(a, {})).toBe(a);
    expect(shapeChannel(a, { latencyMs: 1 })).not.toBe(a);
  });
});
