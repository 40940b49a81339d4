// The speculation governor: keeps speculation on while it beats the plain estimate, turns it off when it
// does not, measures plain for real, re-probes, and follows a pipeline whose balance changes.
import { describe, expect, it } from "vitest";
import { SpeculationGovernor } from "../../../src/scheduler/governor.ts";

/** Feeds `windows` windows of 8 tokens, one token every msPerToken(on) ms; returns the on/off trace. */
function drive(
  g: SpeculationGovernor,
  msPerToken: (on: boolean) => number,
  tokens: number,
  start = 0,
): { trace: boolean[]; t: number } {
  const trace: boolean[] = [];
  let t = start;
  for (let i = 0; i < tokens; i++) {
    const on = g.speculate;
    trace.push(on);
    t += msPerToken(on);
    g.onTokens(1, t);
  }
  return { trace, t };
}

describe("SpeculationGovernor", () => {
  it("keeps speculating when it is well ahead of plain (a latency-bound pipeline)", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(130, 5); // plain: ~125 ms per token
    const { trace } = drive(g, (on) => (on ? 40 : 125), 200);
    expect(trace.every((x) => x)).toBe(true);
    expect(g.state.onMsPerToken).toBeCloseTo(40, 6);
  });

  it("turns speculation off where it is slower than plain, and mostly keeps it off", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(26, 2); // plain: ~24 ms per token
    const { trace } = drive(g, (on) => (on ? 35 : 25), 400);
    expect(trace.slice(0, 8).every((x) => x)).toBe(true); // starts on
    const onShare = trace.slice(40).filter((x) => x).length / (trace.length - 40);
    expect(onShare).toBeGreaterThan(0); // it re-probes
    expect(onShare).toBeLessThan(0.3);
    expect(g.state.offMsPerToken).toBeCloseTo(25, 6);
  });

  it("comes back to speculation when the pipeline changes in its favour", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(26, 0);
    let slowHops = false;
    const cost = (on: boolean): number => (slowHops ? (on ? 40 : 125) : on ? 35 : 25);
    const a = drive(g, cost, 200);
    expect(g.speculate).toBe(false);
    slowHops = true;
    const b = drive(g, cost, 300, a.t);
    expect(b.trace.slice(-100).every((x) => x)).toBe(true);
  });

  it("does not count the gap between generations or the anchoring event", () => {
    const g = new SpeculationGovernor({ windowTokens: 4 });
    g.observeCanonical(100, 0);
    g.beginGeneration();
    g.onTokens(1, 0); // anchor
    for (let i = 1; i <= 4; i++) g.onTokens(1, i * 10);
    expect(g.state.onMsPerToken).toBeCloseTo(10, 6);
    g.beginGeneration();
    g.onTokens(1, 10_000); // anchor after a long pause: not a slow window
    for (let i = 1; i <= 4; i++) g.onTokens(1, 10_000 + i * 10);
    expect(g.state.onMsPerToken).toBeCloseTo(10, 6);
    expect(g.speculate).toBe(true);
  });

  it("takes the fastest canonical round trip, less its queueing, as the plain estimate", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(80, 50);
    g.observeCanonical(40, 0);
    g.observeCanonical(90, 5);
    expect(g.state.plainEstimateMs).toBe(30);
  });
});
