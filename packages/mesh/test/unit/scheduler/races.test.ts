// Races: the exactness property under random per-hop delays, jitter, compute jitter, cancel delays and
// scheduler knobs, over many seeds. SimClock throws on a deadlock (no timer pending, generation unfinished),
// so "no deadlock" is checked by every case finishing.
import { describe, expect, it } from "vitest";
import type { SpeculationOptions } from "../../../src/scheduler/config.ts";
import { createHarness, referenceGreedy } from "../../support/sim-harness.ts";
import { mulberry32 } from "../../support/sim-pipeline.ts";

const SEEDS = 60;

function scenario(seed: number) {
  const r = mulberry32(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const speculation: Partial<SpeculationOptions> = {
    draftBranches: pick([1, 2, 3]),
    draftMax: pick([1, 2, 3, 4, 6]),
    firstDraftMax: pick([1, 2, 4]),
    pSplit: pick([0.05, 0.15, 0.3, 0.9]),
    pAccept: pick([0, 0.1, 0.3]),
    maxInFlightRuns: pick([1, 2, 4, 12]),
    maxPartitions: pick([1, 2, 4, 16]),
    pRecovery: pick([0, 0, 0.2]),
    pDecay: pick([0, 0, 0.05]),
  };
  return {
    peers: pick([1, 2, 3, 4]),
    draft: pick(["aligned", "random", "target"] as const),
    mode: pick(["pipeinfer", "pipeinfer", "speculative"] as const),
    agreement: pick([0.5, 0.8, 0.95]),
    draftStepMs: pick([0.2, 2, 10]),
    config: { speculation, prefillChunkRows: pick([1, 4, 64]) },
    sim: {
      seed,
      hopMs: pick([0.5, 2, 20]),
      hopJitterMs: pick([0, 1, 10]),
      compute: { baseMs: pick([1, 5, 20]), perExtraRowMs: pick([0, 1, 5]) },
      computeJitter: pick([0, 0.5]),
      cancelDelayMs: pick([0, 1, 30]),
      stepsPerStage: pick([1, 3, 8]),
    },
    model: { layers: 4 },
    prompt: Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * 16)),
    maxTokens: 10 + Math.floor(r() * 40),
  };
}

describe("races: random delays, jitter and knobs over many seeds", () => {
  it(`${SEEDS} seeded scenarios finish and match the reference token for token`, async () => {
    const failures: string[] = [];
    let cancelledMidRun = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { prompt, maxTokens, ...o } = scenario(seed);
      const h = createHarness(o);
      const { result } = await h.generate({ newTokens: prompt, maxTokens });
      cancelledMidRun += h.sim.stats.abortedMidRun;
      const ref = referenceGreedy(h.model, prompt, maxTokens);
      if (result.tokens.join() !== ref.join()) failures.push(`seed ${seed}: ${JSON.stringify(o)}`);
    }
    expect(failures).toEqual([]);
    expect(cancelledMidRun).toBeGreaterThan(0); // the scenarios really exercise mid-run cancellation
  });
});
