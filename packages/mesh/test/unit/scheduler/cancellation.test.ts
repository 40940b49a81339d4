// Early cancellation: runs cancelled mid-shard (and skipped before starting) leave every stage's KV cache
// consistent, proven by the cache contents and by continuing the conversation correctly.
import { describe, expect, it } from "vitest";
import { createHarness, expectCanonicalOnly, referenceGreedy } from "../../support/sim-harness.ts";

const PROMPT = [2, 7, 1, 8, 2, 8];

describe("early cancellation", () => {
  // Slow stages with many checkpoints and a poor draft: many chains break while their runs are mid-shard.
  const options = {
    peers: 3,
    mode: "pipeinfer" as const,
    draft: "aligned" as const,
    agreement: 0.6,
    sim: {
      hopMs: 3,
      compute: { baseMs: 20, perExtraRowMs: 4 },
      stepsPerStage: 8,
      cancelDelayMs: 1,
      seed: 4,
    },
  };

  it("cancels runs mid-shard and before they start, and the stages hold only canonical KV afterwards", async () => {
    const h = createHarness(options);
    const { result } = await h.generate({ newTokens: PROMPT, maxTokens: 40 });
    expect(result.tokens).toEqual(referenceGreedy(h.model, PROMPT, 40));
    expect(result.metrics.runsCancelled).toBeGreaterThan(0);
    expect(h.sim.stats.abortedMidRun).toBeGreaterThan(0);
    expect(h.sim.stats.skippedOutcomes).toBeGreaterThan(0);
    // the last token has no KV yet; everything before it is canonical, once
    expect(h.scheduler.contextTokens).toEqual([...PROMPT, ...result.tokens.slice(0, -1)]);
    expectCanonicalOnly(h, PROMPT.length + result.tokens.length - 1);
  });

  it("continuing the conversation on that cache gives the reference tokens", async () => {
    const h = createHarness(options);
    const first = await h.generate({ newTokens: PROMPT, maxTokens: 40 });
    const previous = [...PROMPT, ...first.result.tokens];
    const turn = [5, 5, 3];
    const second = await h.generate({ previousTokens: previous, newTokens: turn, maxTokens: 30 });
    expect(second.result.tokens).toEqual(referenceGreedy(h.model, [...previous, ...turn], 30));
    expect(second.result.metrics.reusedTokens).toBe(previous.length - 1);
    expect(h.sim.stats.abortedMidRun).toBeGreaterThan(0);
    expectCanonicalOnly(h, previous.length + turn.length + 30 - 1);
  });

  it("cancelled runs come back as skip markers and never hold up the head", async () => {
    const h = createHarness(options);
    await h.generate({ newTokens: PROMPT, maxTokens: 40 });
    const outcomes = h.sim.log.filter((e) => e.type === "outcome");
    const cancelled = new Set(h.sim.log.flatMap((e) => (e.type === "cancel" ? e.runIds : [])));
    const skipped = outcomes.filter((e) => e.status === "skipped");
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.every((e) => cancelled.has(e.runId))).toBe(true);
    // canonical and prefill runs are never cancelled over the network
    const kinds = new Map(
      h.sim.log.flatMap((e) => (e.type === "launch" ? [[e.run.runId, e.run.kind]] : [])),
    );
    expect([...cancelled].every((id) => kinds.get(id) === "speculative")).toBe(true);
  });
});
