// Trees of siblings across micro-batches (branches in a run's tree and correction forks rooted at the
// draft's other candidates), greedy and sampled, with cancellation landing at every position of a tree:
// before a stage starts the run, at each of its checkpoints, and after it finished. The cancel delay is
// swept over the stage's whole compute time in small steps, so every drafted row of every tree sees a
// cancel arrive at every point. Greedy tokens equal the KV-free reference; sampled tokens equal plain
// sampling with the same seed (shared-noise sampling makes the token at a position a function of the seed
// and the context only); the stages end holding canonical KV only.
import { describe, expect, it } from "vitest";
import {
  createHarness,
  expectCanonicalOnly,
  referenceGreedy,
  type Harness,
} from "../../support/sim-harness.ts";

const PROMPT = [2, 7, 1, 8];
const TOKENS = 32;
const CONFIG = {
  speculation: { speculateCorrections: true, draftBranches: 3, draftMax: 4, maxInFlightRuns: 4 },
};
/** Stage compute: 12 ms per run (+2 per extra row), 6 checkpoints: a cancel lands every ~2 ms. */
const COMPUTE = { baseMs: 12, perExtraRowMs: 2 };
const DELAYS = Array.from({ length: 16 }, (_, i) => i); // 0..15 ms: before, during, after every run

function harness(peers: number, cancelDelayMs: number, seed: number): Harness {
  return createHarness({
    peers,
    mode: "pipeinfer",
    draft: "aligned",
    agreement: 0.55,
    config: CONFIG,
    sim: { hopMs: 2, compute: COMPUTE, stepsPerStage: 6, cancelDelayMs, seed },
  });
}

describe("sibling trees with cancellation at every position", () => {
  it("greedy: the reference tokens on 1 to 4 peers at every cancel delay; branches, forks and mid-run cancels happen", async () => {
    let forks = 0;
    let midRun = 0;
    let skipped = 0;
    let branched = 0;
    for (const peers of [1, 2, 4]) {
      const expected = referenceGreedy(harness(peers, 0, 1).model, PROMPT, TOKENS);
      for (const delay of DELAYS) {
        const h = harness(peers, delay, delay + 1);
        const { result } = await h.generate({ newTokens: PROMPT, maxTokens: TOKENS });
        expect(result.tokens, `${peers} peers, cancel after ${delay} ms`).toEqual(expected);
        expectCanonicalOnly(h, PROMPT.length + TOKENS - 1);
        forks += result.metrics.correctionForksLaunched;
        midRun += h.sim.stats.abortedMidRun;
        skipped += h.sim.stats.skippedOutcomes;
        branched += h.sim.log.filter(
          (x) => x.type === "launch" && x.run.seqIds.some((ids) => ids.length > 1),
        ).length;
      }
    }
    expect(forks).toBeGreaterThan(0);
    expect(midRun).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
    expect(branched).toBeGreaterThan(0);
  });

  it("sampled: the tokens of plain sampling with the same seed, at every cancel delay", async () => {
    for (const peers of [1, 3]) {
      for (const seed of [5, 6]) {
        const sampling = { temperature: 0.8, topP: 0.95, seed };
        const plain = createHarness({
          peers,
          mode: "plain",
          sim: { hopMs: 2, compute: COMPUTE, stepsPerStage: 6 },
        });
        const want = (await plain.generate({ newTokens: PROMPT, maxTokens: TOKENS, sampling }))
          .result.tokens;
        let forks = 0;
        for (const delay of DELAYS) {
          const h = harness(peers, delay, delay + 7);
          const { result } = await h.generate({ newTokens: PROMPT, maxTokens: TOKENS, sampling });
          expect(result.tokens, `${peers} peers, seed ${seed}, cancel after ${delay} ms`).toEqual(
            want,
          );
          expectCanonicalOnly(h, PROMPT.length + TOKENS - 1);
          forks += result.metrics.correctionForksLaunched;
        }
        expect(forks).toBeGreaterThan(0);
      }
    }
  });
});
