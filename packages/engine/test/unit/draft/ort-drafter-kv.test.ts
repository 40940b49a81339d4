// OrtDrafter's K/V bookkeeping on the exact fake session, case by case: a chain keeps one blob, a fork
// copies a prefix once, accept drops rejected branches without recomputing the accepted prefix, equal
// shapes share a run, long prompts run in chunks, cached predictions cost nothing, and bad input and use
// after destroy are coded errors. The random sequences are in ort-drafter-fuzz.test.ts.

import { describe, expect, it } from "vitest";
import { OrtDrafter, type OrtDrafterOptions } from "../../../src/draft/ort-drafter.ts";
import { FakeDraftSession } from "../../support/fake-draft-session.ts";
import { fromScratch } from "../../support/ort-reference.ts";
import { expectSamePrediction } from "../../support/draft-reference.ts";

const ids = (...t: number[]): Int32Array => Int32Array.from(t);

function make(options: OrtDrafterOptions = {}): { d: OrtDrafter; s: FakeDraftSession } {
  const s = new FakeDraftSession();
  return { d: new OrtDrafter(s, options), s };
}

/** Bytes of one position's K/V in every layer of the fake (2 layers x K,V x 2 heads x 3 dims x 4 B). */
const POSITION_BYTES = 2 * 2 * 2 * 3 * 4;

describe("OrtDrafter K/V per branch", () => {
  it("a greedy chain keeps one blob and runs each new token once", async () => {
    const { d, s } = make();
    const ctx = [1, 2, 3, 4];
    for (let i = 0; i < 20; i++) {
      const [p] = await d.predict([Int32Array.from(ctx)], { topK: 1 });
      ctx.push(p!.topIds[0]!);
    }
    expect(d.stats().blobs).toBe(1);
    expect(d.stats().kvBytes).toBe((ctx.length - 1) * POSITION_BYTES);
    expect(s.tokens, "the prompt once, then one token per step").toBe(ctx.length - 1);
    expect(d.stats().newTokens).toBe(ctx.length - 1);
    const want = await fromScratch(new FakeDraftSession(), ctx.slice(0, -1), 1);
    const [again] = await d.predict([Int32Array.from(ctx.slice(0, -1))], { topK: 1 });
    expectSamePrediction(again!, want, false, "cached chain end");
    expect(s.tokens, "answered from the cache").toBe(ctx.length - 1);
  });

  it("a fork copies the shared prefix; accept drops the rejected branch and keeps the accepted K/V", async () => {
    const { d, s } = make();
    await d.predict([ids(5, 6, 7, 8)], { topK: 2 });
    // Two branches off the inner node [5, 6]: one run each extends the copied 2-token prefix.
    const a = ids(5, 6, 10, 11);
    const b = ids(5, 6, 12, 13);
    await d.predict([a, b], { topK: 2 });
    expect(d.stats().blobs).toBe(3);
    await d.accept(ids(5, 6, 10));
    // [5,6,7,8] and [5,6,12,13] are inconsistent with the accepted context: their K/V is gone, and the
    // accepted prefix [5,6] now shares the accepted branch's blob.
    expect(d.stats().blobs).toBe(1);
    expect(d.audit().kvBytes).toBe(4 * POSITION_BYTES);
    const rows = s.tokens;
    const next = ids(5, 6, 10, 11, 14);
    const [p] = await d.predict([next], { topK: 2 });
    expect(s.tokens - rows, "only the new token runs").toBe(1);
    expectSamePrediction(
      p!,
      await fromScratch(new FakeDraftSession(), next, 2),
      false,
      "after accept",
    );
  });

  it("contexts with equal past and new-token counts share one run unless batching is off", async () => {
    for (const batch of [true, false]) {
      const { d, s } = make({ batchContexts: batch });
      await d.predict([ids(1, 2, 3)], { topK: 1 });
      const runs = s.runs;
      const siblings = [ids(1, 2, 3, 4), ids(1, 2, 3, 5), ids(1, 2, 3, 6)];
      const got = await d.predict(siblings, { topK: 3 });
      expect(s.runs - runs).toBe(batch ? 1 : 3);
      expect(d.stats().batchedRuns).toBe(batch ? 1 : 0);
      for (const [i, c] of siblings.entries()) {
        expectSamePrediction(
          got[i]!,
          await fromScratch(new FakeDraftSession(), c, 3),
          false,
          `row ${i}`,
        );
      }
    }
  });

  it("a shared uncomputed prefix runs once, before the branches", async () => {
    const { d, s } = make();
    const got = await d.predict([ids(1, 2, 3, 4, 5), ids(1, 2, 3, 9), ids(1, 2, 3)], { topK: 2 });
    // [1,2,3] first (an end itself), then both branches in one batched run of different lengths? No:
    // lengths differ (2 and 1 new tokens), so two runs.
    expect(s.tokens).toBe(3 + 2 + 1);
    expect(s.runs).toBe(3);
    const ref = new FakeDraftSession();
    for (const [i, c] of [ids(1, 2, 3, 4, 5), ids(1, 2, 3, 9), ids(1, 2, 3)].entries()) {
      expectSamePrediction(got[i]!, await fromScratch(ref, c, 2), false, `context ${i}`);
    }
  });

  it("a long prompt runs in chunks of maxChunkTokens", async () => {
    const { d, s } = make({ maxChunkTokens: 4 });
    const prompt = ids(...Array.from({ length: 10 }, (_, i) => i + 1));
    const [p] = await d.predict([prompt], { topK: 2 });
    expect(s.runs).toBe(3);
    expect(d.stats().blobs).toBe(1);
    expectSamePrediction(
      p!,
      await fromScratch(new FakeDraftSession(), prompt, 2),
      false,
      "chunked",
    );
  });

  it("asking again with more candidates or probabilities re-runs one token and keeps the K/V", async () => {
    const { d, s } = make();
    await d.predict([ids(3, 4, 5)], { topK: 1 });
    const before = d.stats();
    const [p] = await d.predict([ids(3, 4, 5)], { topK: 4, wantProbs: true });
    expect(s.tokens).toBe(4);
    expect(d.stats().rerunTokens).toBe(1);
    expect(d.stats().kvBytes).toBe(before.kvBytes);
    expectSamePrediction(
      p!,
      await fromScratch(new FakeDraftSession(), ids(3, 4, 5), 4),
      true,
      "re-run",
    );
    await d.predict([ids(3, 4, 5)], { topK: 2, wantProbs: true });
    expect(s.tokens, "now cached").toBe(4);
    expect(d.stats().cachedPredictions).toBe(1);
  });

  it("a failed run changes nothing; the next call works", async () => {
    const { d, s } = make();
    await d.predict([ids(1, 2)], { topK: 1 });
    s.failNext = new Error("boom");
    await expect(d.predict([ids(1, 2, 3)], { topK: 1 })).rejects.toThrow("boom");
    expect(d.audit()).toEqual({ blobs: d.stats().blobs, kvBytes: d.stats().kvBytes });
    const [p] = await d.predict([ids(1, 2, 3)], { topK: 1 });
    expectSamePrediction(
      p!,
      await fromScratch(new FakeDraftSession(), ids(1, 2, 3), 1),
      false,
      "retry",
    );
  });

  it("a tight K/V budget evicts the least recently used branch, never the request's own", async () => {
    const { d } = make({ maxKvBytes: 7 * POSITION_BYTES });
    await d.predict([ids(1, 2, 3)], { topK: 1 });
    await d.predict([ids(7, 8, 9)], { topK: 1 });
    expect(d.stats().evictions).toBe(0);
    await d.predict([ids(4, 5, 6, 7)], { topK: 1 });
    expect(d.stats().evictions).toBe(1);
    expect(d.stats().kvBytes).toBeLessThanOrEqual(7 * POSITION_BYTES);
    // The oldest branch ([1,2,3]) went; the newer one is still cached.
    const runs = d.stats().runs;
    await d.predict([ids(7, 8, 9)], { topK: 1 });
    expect(d.stats().runs).toBe(runs);
  });

  it("rejects bad input and use after destroy with codes", async () => {
    const { d, s } = make({ maxPositions: 8 });
    await expect(d.predict([ids()], { topK: 1 })).rejects.toMatchObject({
      code: "ERR_BATCH_INVALID",
    });
    await expect(d.predict([ids(1, 99)], { topK: 1 })).rejects.toMatchObject({
      code: "ERR_BATCH_INVALID",
    });
    await expect(d.predict([ids(1)], { topK: 0 })).rejects.toMatchObject({
      code: "ERR_BATCH_INVALID",
    });
    await expect(
      d.predict([ids(...new Array<number>(9).fill(1))], { topK: 1 }),
    ).rejects.toMatchObject({
      code: "ERR_CONTEXT_LENGTH",
    });
    const ac = new AbortController();
    ac.abort();
    await expect(d.predict([ids(1)], { topK: 1 }, ac.signal)).rejects.toMatchObject({
      code: "ERR_ABORTED",
    });
    await d.destroy();
    await d.destroy();
    expect(s.released).toBe(true);
    await expect(d.predict([ids(1)], { topK: 1 })).rejects.toMatchObject({ code: "ERR_DESTROYED" });
    await expect(d.accept(ids(1))).rejects.toMatchObject({ code: "ERR_DESTROYED" });
    await expect(d.reset()).rejects.toMatchObject({ code: "ERR_DESTROYED" });
  });
});
