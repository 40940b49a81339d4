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

describe("the governor stops probing once async clearly wins", () => {
  /** A deterministic noise source (LCG) so the tests are reproducible. */
  function noise(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32 - 0.5;
    };
  }

  it("settles on async for good when its windows beat sync's and plain's with confidence (noisy costs)", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(130, 5);
    const u = noise(1);
    // Per-token costs vary by +-50 %: single windows overlap little, but means differ clearly.
    const { trace } = drive(
      g,
      () => ({ async: 40 * (1 + u()), sync: 70 * (1 + u()), plain: 125 }),
      2000,
    );
    expect(g.state.asyncDecided).toBe(true);
    // The sync probes needed for the test happen early; afterwards only async.
    const lastSync = trace.lastIndexOf("sync");
    expect(lastSync).toBeGreaterThan(0);
    expect(lastSync).toBeLessThan(800);
    expect(share(trace, "async", 800)).toBe(1);
  });

  it("keeps probing while the arms are too close to tell apart", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(130, 5);
    const u = noise(2);
    const { trace } = drive(
      g,
      () => ({ async: 40 * (1 + 1.6 * u()), sync: 42 * (1 + 1.6 * u()), plain: 125 }),
      3000,
    );
    expect(g.state.asyncDecided).toBe(false);
    expect(trace.slice(1500).includes("sync")).toBe(true);
  });

  it("does not decide on the plain estimate alone: sync must have been measured", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(500, 0);
    drive(g, () => ({ async: 40, sync: 60, plain: 500 }), 8 * 7); // 6 windows: before the first probe
    expect(g.state.asyncDecided).toBe(false);
  });

  it("leaves async when it starts losing after being decided", () => {
    const g = new SpeculationGovernor();
    g.observeCanonical(130, 5);
    let slow = false;
    const cost = (): Cost =>
      slow ? { async: 200, sync: 60, plain: 125 } : { async: 40, sync: 60, plain: 125 };
    const a = drive(g, cost, 1000);
    expect(g.state.asyncDecided).toBe(true);
    slow = true;
    const b = drive(g, cost, 400, a.t);
    expect(g.state.asyncDecided).toBe(false);
    expect(share(b.trace, "sync", 200)).toBeGreaterThan(0.85);
  });

  it("rejects a test that could never be run", () => {
    expect(() => new SpeculationGovernor({ minSamples: 1 })).toThrow(RangeError);
    expect(() => new SpeculationGovernor({ minSamples: 4, sampleWindows: 3 })).toThrow(RangeError);
  });
});

describe("arm spans in the generation metrics", () => {
  const contiguous = (arms: { fromToken: number; toToken: number }[], n: number): boolean =>
    arms.every(
      (s, i) => s.fromToken === (i === 0 ? 0 : arms[i - 1]!.toToken) && s.toToken > s.fromToken,
    ) && arms[arms.length - 1]?.toToken === n;

  it("name the arm behind every token as the governor moves (compute-bound pipeline)", async () => {
    const h = createHarness({
      peers: 2,
      mode: "pipeinfer",
      draft: "aligned",
      agreement: 0.5,
      sim: { hopMs: 0, headHopMs: 0, compute: { baseMs: 10, perExtraRowMs: 10 } },
    });
    const seen = new Set<GovernorArm>();
    for (let p = 0; p < 3; p++) {
      const { result } = await h.generate({ newTokens: [3, 1, 4, 1, 5, p], maxTokens: 60 });
      const arms = result.metrics.arms;
      expect(contiguous(arms, result.tokens.length)).toBe(true);
      // maximal spans: neighbours differ
      expect(arms.every((s, i) => i === 0 || s.arm !== arms[i - 1]!.arm)).toBe(true);
      for (const s of arms) seen.add(s.arm);
    }
    expect(seen.has("async")).toBe(true); // where it starts
    expect(seen.size).toBeGreaterThan(1); // and where it moved
  });

  it("is one span of the mode's arm without a governor", async () => {
    for (const [mode, arm] of [
      ["plain", "plain"],
      ["speculative", "sync"],
      ["pipeinfer", "async"],
    ] as const) {
      const h = createHarness({
        peers: 2,
        mode,
        ...(mode === "plain" ? {} : { draft: "aligned" as const }),
        config: { speculation: { governor: false } },
      });
      const { result } = await h.generate({ newTokens: [3, 1, 4], maxTokens: 20 });
      expect(result.metrics.arms).toEqual([{ arm, fromToken: 0, toToken: 20 }]);
    }
  });
});
