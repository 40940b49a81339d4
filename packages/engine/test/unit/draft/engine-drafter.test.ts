// EngineDrafter on the CPU backend, case by case: what each call costs (new tokens, runs), what accept
// commits and frees in the shard's KV cache, eviction under a tiny budget, abort, truncation, errors.
// Every prediction is compared bit for bit with a from-scratch run (FromScratch).

import { afterAll, describe, expect, it } from "vitest";
import { EngineDrafter } from "../../../src/draft/engine-drafter.ts";
import type { LayerShard } from "../../../src/model/batch.ts";
import { isEngineError } from "../../../src/errors.ts";
import { loadGolden, PRIMARY_FIXTURE } from "../../fixtures/fixtures.ts";
import { makeShards } from "../../suites/backends.ts";
import { expectSamePrediction, FromScratch } from "../../support/draft-reference.ts";

const fixture = PRIMARY_FIXTURE;
const { golden } = loadGolden(fixture);
const prompt = golden.prompt; // 8 tokens
const ctx = (...parts: (readonly number[])[]): Int32Array => Int32Array.from(parts.flat());

async function wholeShard(kvCells: number, maxSeqs = 64): Promise<LayerShard> {
  const [shard] = await makeShards("cpu", fixture, [], { kvCells, maxSeqs });
  if (shard === undefined) throw new Error("no shard");
  return shard;
}

describe("EngineDrafter (cpu)", () => {
  const toDestroy: { destroy(): Promise<void> }[] = [];
  afterAll(() => Promise.all(toDestroy.map((d) => d.destroy())));
  let reference: FromScratch | undefined;

  async function oracle(): Promise<FromScratch> {
    reference ??= new FromScratch(await wholeShard(128));
    return reference;
  }

  async function drafter(
    kvCells = 64,
    maxSeqs?: number,
  ): Promise<{ d: EngineDrafter; shard: LayerShard }> {
    const shard = await wholeShard(kvCells, maxSeqs);
    const d = new EngineDrafter(shard);
    toDestroy.push(d);
    return { d, shard };
  }

  async function check(
    d: EngineDrafter,
    contexts: Int32Array[],
    topK = 4,
    wantProbs = false,
  ): Promise<void> {
    const got = await d.predict(contexts, { topK, wantProbs });
    expect(got).toHaveLength(contexts.length);
    const ref = await oracle();
    for (const [i, c] of contexts.entries()) {
      const want = await ref.predict(c, topK);
      expectSamePrediction(got[i]!, want, wantProbs, `context ${i} [${Array.from(c).join(",")}]`);
    }
  }

  it("charges only new tokens: extension, a tree in one run, and free re-asks", async () => {
    const { d, shard } = await drafter();
    await d.accept(ctx(prompt));
    await check(d, [ctx(prompt)]);
    expect(d.stats()).toMatchObject({ runs: 1, newTokens: 8, cachedPredictions: 0 });

    await check(d, [ctx(prompt, [5, 6])]);
    expect(d.stats()).toMatchObject({ runs: 2, newTokens: 10 });

    // Three branches off the cached chain, sharing a new token: one run, 1 + 3 new tokens.
    await check(d, [
      ctx(prompt, [5, 6, 7, 1]),
      ctx(prompt, [5, 6, 7, 2]),
      ctx(prompt, [5, 6, 7, 3]),
    ]);
    expect(d.stats()).toMatchObject({ runs: 3, newTokens: 14 });
    // A branch off an internal node (seq_cp of its path, no compute for it).
    await check(d, [ctx(prompt, [5, 9])]);
    expect(d.stats()).toMatchObject({ runs: 4, newTokens: 15 });

    // Every context again, plus duplicates: nothing runs.
    await check(d, [
      ctx(prompt),
      ctx(prompt, [5, 6, 7, 2]),
      ctx(prompt, [5, 9]),
      ctx(prompt, [5, 9]),
    ]);
    expect(d.stats()).toMatchObject({ runs: 4, newTokens: 15, cachedPredictions: 4 });
    expect(await shard.kvUsed()).toBe(15);
    expect(d.stats().cellsUsed).toBe(15);
  });

  it("accept commits the computed part to seq 0 and frees inconsistent branches", async () => {
    const { d, shard } = await drafter();
    await d.accept(ctx(prompt));
    await check(d, [ctx(prompt, [5, 6, 7]), ctx(prompt, [5, 8]), ctx(prompt, [9])]);
    expect(await shard.kvUsed()).toBe(8 + 5);

    await d.accept(ctx(prompt, [5, 6]));
    // [9] and [5, 8] are inconsistent and go; prompt + 5, 6 are canonical; 7 stays as a branch.
    expect(await shard.kvUsed()).toBe(8 + 3);
    expect(d.stats()).toMatchObject({ canonicalTokens: 10, seqsUsed: 1, cellsUsed: 11 });

    const before = d.stats().newTokens;
    await check(d, [ctx(prompt, [5, 6, 7, 4]), ctx(prompt, [5, 6, 3])]);
    expect(d.stats().newTokens - before).toBe(2);

    // The target corrected: accepted grows by a token the draft never saw.
    await d.accept(ctx(prompt, [5, 6, 11]));
    expect(d.stats()).toMatchObject({ canonicalTokens: 10, seqsUsed: 0, cellsUsed: 10 });
    expect(await shard.kvUsed()).toBe(10);
    await check(d, [ctx(prompt, [5, 6, 11]), ctx(prompt, [5, 6, 11, 12])]);
  });

  it("answers a context inside the accepted prefix and one diverging from it", async () => {
    const { d } = await drafter();
    await d.accept(ctx(prompt, [5, 6, 7]));
    await check(d, [ctx(prompt, [5, 6, 7])]);
    await d.accept(ctx(prompt, [5, 6, 7]));
    // Shorter than canonical (a re-run of a canonical token), and diverging at position 3.
    await check(d, [
      ctx(prompt.slice(0, 5)),
      ctx(prompt.slice(0, 3), [40, 41]),
      ctx(prompt, [5, 6, 7, 8]),
    ]);
    await check(d, [ctx(prompt.slice(0, 3), [40, 41, 42])]);
  });

  it("re-runs a cached token when more candidates or the full distribution are asked", async () => {
    const { d } = await drafter();
    await check(d, [ctx(prompt, [1, 2])], 2);
    const n = d.stats().newTokens;
    await check(d, [ctx(prompt, [1, 2])], 8, true);
    expect(d.stats()).toMatchObject({ newTokens: n, rerunTokens: 1 });
    await check(d, [ctx(prompt, [1, 2])], 3, true);
    await check(d, [ctx(prompt, [1, 2])], 3, false);
    expect(d.stats().rerunTokens).toBe(1);
  });

  it("evicts least recently used branches under a tiny budget, invisibly", async () => {
    const { d, shard } = await drafter(16, 3); // 16 cells, 2 branch sequences
    await d.accept(ctx(prompt));
    await check(d, [ctx(prompt, [1, 2])]);
    await check(d, [ctx(prompt, [3, 4])]);
    await check(d, [ctx(prompt, [1, 2, 5])]); // touches branch 1
    await check(d, [ctx(prompt, [6, 7])]); // no third sequence: the older branch [3, 4] goes
    expect(d.stats().evictions).toBe(1);
    await check(d, [ctx(prompt, [3, 4, 9]), ctx(prompt, [3, 8])]);
    expect(await shard.kvUsed()).toBe(d.stats().cellsUsed);
    // A request that cannot fit even with everything evicted is a coded error, not silent reuse.
    const tooBig = ctx(prompt, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await expect(d.predict([tooBig], { topK: 1 })).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_KV_FULL"),
    );
    await check(d, [ctx(prompt, [1, 2, 5])]);
    expect(await shard.kvUsed()).toBe(d.stats().cellsUsed);
  });

  /** A shard that aborts `ac` as its run number `abortAtRun` starts (during the run's first layer). */
  function abortingShard(shard: LayerShard, ac: AbortController, abortAtRun: number): LayerShard {
    let runs = 0;
    return {
      info: shard.info,
      run: (batch, signal) => {
        if (++runs === abortAtRun) setImmediate(() => ac.abort());
        return shard.run(batch, signal);
      },
      kv: (op) => shard.kv(op),
      kvUsed: () => shard.kvUsed(),
      destroy: () => shard.destroy(),
    };
  }

  it("an aborted predict leaves the cache as it was (copies, inherited sequences, chunks)", async () => {
    for (const maxBatchRows of [512, 2]) {
      const shard = await wholeShard(64);
      const ac = new AbortController();
      const d = new EngineDrafter(abortingShard(shard, ac, maxBatchRows === 512 ? 3 : 7), {
        maxBatchRows,
      });
      toDestroy.push(d);
      await d.accept(ctx(prompt));
      await check(d, [ctx(prompt)]);
      await check(d, [ctx(prompt, [1])]);
      const used = await shard.kvUsed();
      const stats = d.stats();
      // Extends the leaf [1] (its sequence) and branches off the prompt (a copy of its path).
      const contexts = [ctx(prompt, [1, 2, 3]), ctx(prompt, [4, 5])];
      await expect(d.predict(contexts, { topK: 2 }, ac.signal)).rejects.toSatisfy((e) =>
        isEngineError(e, "ERR_ABORTED"),
      );
      expect(await shard.kvUsed()).toBe(used);
      expect(d.stats()).toMatchObject({ cellsUsed: used, seqsUsed: stats.seqsUsed });
      await check(d, contexts);
      await check(d, [ctx(prompt, [1, 2, 3, 6]), ctx(prompt, [4, 7])]);
      expect(await shard.kvUsed()).toBe(d.stats().cellsUsed);
    }
  });

  it("an already aborted signal runs nothing", async () => {
    const { d, shard } = await drafter();
    const ac = new AbortController();
    ac.abort();
    await expect(d.predict([ctx(prompt)], { topK: 1 }, ac.signal)).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_ABORTED"),
    );
    expect(await shard.kvUsed()).toBe(0);
    expect(d.stats().runs).toBe(0);
  });

  it("an accepted context that replaces the canonical one truncates it", async () => {
    const { d, shard } = await drafter();
    await d.accept(ctx(prompt, [1, 2, 3]));
    await check(d, [ctx(prompt, [1, 2, 3, 4])]);
    await d.accept(ctx(prompt, [1, 2, 3, 4]));
    expect(d.stats().canonicalTokens).toBe(12);
    await d.accept(ctx(prompt, [1, 7]));
    expect(d.stats()).toMatchObject({ canonicalTokens: 9, cellsUsed: 9 });
    expect(await shard.kvUsed()).toBe(9);
    await check(d, [ctx(prompt, [1, 7]), ctx(prompt, [1, 2, 3])]);
    await d.reset();
    expect(await shard.kvUsed()).toBe(0);
    await check(d, [ctx(prompt, [1, 7, 8])]);
  });

  it("rejects bad requests with coded errors, and destroy is idempotent", async () => {
    const { d } = await drafter();
    const code = (c: string) => (e: unknown) => isEngineError(e) && e.code === c;
    await expect(d.predict([new Int32Array(0)], { topK: 1 })).rejects.toSatisfy(
      code("ERR_BATCH_INVALID"),
    );
    await expect(d.predict([ctx([d.vocabSize])], { topK: 1 })).rejects.toSatisfy(
      code("ERR_BATCH_INVALID"),
    );
    await expect(d.predict([ctx(prompt)], { topK: 0 })).rejects.toSatisfy(
      code("ERR_BATCH_INVALID"),
    );
    expect(await d.predict([], { topK: 1 })).toEqual([]);
    await d.destroy();
    await d.destroy();
    await expect(d.predict([ctx(prompt)], { topK: 1 })).rejects.toSatisfy(code("ERR_DESTROYED"));
    await expect(d.accept(ctx(prompt))).rejects.toSatisfy(code("ERR_DESTROYED"));
  });

  it("refuses a shard without the embeddings or the head", async () => {
    const [first, last] = await makeShards("cpu", fixture, [1], { kvCells: 8 });
    toDestroy.push(first!, last!);
    expect(() => new EngineDrafter(first!)).toThrow(/whole model/);
    expect(() => new EngineDrafter(last!)).toThrow(/whole model/);
  });
});
