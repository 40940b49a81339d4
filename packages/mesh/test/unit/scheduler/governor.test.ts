// The speculation governor: stays on asynchronous speculation while it beats the plain estimate; otherwise
// tries synchronous speculation, then plain; settles on the fastest measured arm; re-probes with a growing
// wait; follows a pipeline whose balance changes. And in the loop: whatever arm it picks, greedy output is
// exactly the target's.
import { describe, expect, it } from "vitest";
import { SpeculationGovernor, type GovernorArm } from "../../../src/scheduler/governor.ts";
import { createHarness, referenceGreedy } from "../../support/sim-harness.ts";

type Cost = Record<GovernorArm, number>;

/** Feeds `tokens` tokens one at a time, each costing cost[arm] ms; returns the arm trace. */
function drive(
  g: SpeculationGovernor,
  cost: () => Cost,
  tokens: number,
  start = 0,
): { trace: GovernorArm[]; t: number } {
  const trace: GovernorArm[] = [];
  let t = start;
  for (let i = 0; i < tokens; i++) {
    const arm = g.arm;
    trace.push(arm);
    t += cost()[arm];
    g.onTokens(1, t);
  }
  return { trace, t };
}

const share = (trace: GovernorArm[], arm: GovernorArm, from = 0, to = trace.length): number =>
  trace.slice(from, to).filter((x) => x === arm).length / (to - from);

describe("SpeculationGovernor", () => {
  it("keeps asynchronous speculation when it is well ahead (a latency-bound pipeline)", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(130, 5); // plain: ~125 ms per token
    const { trace } = drive(g, () => ({ async: 40, sync: 60, plain: 125 }), 400);
    expect(trace.slice(0, 48).every((x) => x === "async")).toBe(true);
    expect(share(trace, "async")).toBeGreaterThan(0.9); // the rest: a few losing probes of sync
    expect(share(trace, "plain")).toBe(0); // plain's estimate alone rules it out
    expect(g.state.msPerToken.async).toBeCloseTo(40, 6);
  });

  it("falls back to synchronous speculation where that is fastest", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(26, 2); // plain estimate 24
    const { trace } = drive(g, () => ({ async: 35, sync: 20, plain: 25 }), 600);
    expect(trace[0]).toBe("async");
    expect(share(trace, "sync", 100)).toBeGreaterThan(0.85);
    expect(g.state.msPerToken.sync).toBeCloseTo(20, 6);
  });

  it("settles on plain where neither kind of speculation pays", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(22, 2);
    const { trace } = drive(g, () => ({ async: 35, sync: 40, plain: 21 }), 1200);
    expect(share(trace, "plain", 200)).toBeGreaterThan(0.85);
    expect(share(trace, "plain", 700)).toBeGreaterThan(0.9); // losing probes come less often
    expect(g.state.settled).toBe("plain");
  });

  it("comes back to asynchronous speculation when the pipeline changes in its favour", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(22, 0);
    let slowHops = false;
    const cost = (): Cost =>
      slowHops ? { async: 40, sync: 60, plain: 125 } : { async: 35, sync: 40, plain: 21 };
    const a = drive(g, cost, 400);
    expect(g.arm).not.toBe("async");
    slowHops = true;
    const b = drive(g, cost, 600, a.t);
    expect(share(b.trace, "async", 400)).toBeGreaterThan(0.85);
  });

  it("does not count the gap between generations or the anchoring event", () => {
    const g = new SpeculationGovernor({ windowTokens: 4 });
    g.observeCanonical(100, 0);
    g.beginGeneration();
    g.onTokens(1, 0); // anchor
    for (let i = 1; i <= 4; i++) g.onTokens(1, i * 10);
    expect(g.state.msPerToken.async).toBeCloseTo(10, 6);
    g.beginGeneration();
    g.onTokens(1, 10_000); // anchor after a long pause: not a slow window
    for (let i = 1; i <= 4; i++) g.onTokens(1, 10_000 + i * 10);
    expect(g.state.msPerToken.async).toBeCloseTo(10, 6);
    expect(g.arm).toBe("async");
  });

  it("takes the fastest canonical round trip, less its queueing, as the plain estimate", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(80, 50);
    g.observeCanonical(40, 0);
    g.observeCanonical(90, 5);
    expect(g.state.plainEstimateMs).toBe(30);
  });
});

describe("the governor in the generation loop", () => {
  // Stages that compute every extra row at full price and no hop latency: asynchronous speculation only
  // delays canonical runs here, so the governor leaves it; every arm must stay exact.
  for (const draft of ["aligned", "random", "target"] as const) {
    it(`${draft} draft on a compute-bound pipeline: leaves async, output exact`, async () => {
      const h = createHarness({
        peers: 2,
        mode: "pipeinfer",
        draft,
        agreement: 0.5,
        sim: { hopMs: 0, headHopMs: 0, compute: { baseMs: 10, perExtraRowMs: 10 } },
      });
      for (let p = 0; p < 4; p++) {
        const prompt = [3, 1, 4, 1, 5, p];
        const { result } = await h.generate({ newTokens: prompt, maxTokens: 40 });
        expect(result.tokens).toEqual(referenceGreedy(h.model, prompt, 40));
      }
      const state = h.scheduler.governor?.state;
      expect(state?.windows).toBeGreaterThan(10);
      if (draft !== "target") expect(state?.settled).not.toBe("async");
    });
  }
});
