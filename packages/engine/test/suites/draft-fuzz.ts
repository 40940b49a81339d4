// EngineDrafter under random call sequences on several fixture models, parameterised by backend: draft trees grown level by level
// like the mesh's scheduler, chains that extend earlier drafts, accepts (of drafted or corrected tokens),
// abandoned branches, contexts inside or diverging from the accepted prefix, re-asks with other options,
// aborts, replacements, resets, and a tiny KV budget that forces eviction. Every prediction must equal a
// from-scratch run on the same backend bit for bit, and the drafter's cell count must match the shard's
// after every call. Used by the CPU unit tests; the WebGPU parity tests can run the very same cases.

import { afterAll, describe, expect, it } from "vitest";
import { EngineDrafter } from "../../src/draft/engine-drafter.ts";
import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import { isEngineError } from "../../src/errors.ts";
import type { LayerShard } from "../../src/model/batch.ts";
import type { ShardBackend } from "../../src/model/shard-spec.ts";
import type { ModelFixture } from "../fixtures/fixtures.ts";
import { expectSamePrediction, FromScratch } from "../support/draft-reference.ts";
import { growFuzzTree } from "../support/fuzz-draft-tree.ts";
import { Rng } from "../support/random.ts";
import { makeShards } from "./backends.ts";

export interface DrafterFuzzCase {
  fixture: ModelFixture;
  seed: number;
  steps: number;
  kvCells: number;
  maxSeqs: number;
  maxBatchRows?: number;
}

export const DRAFTER_FUZZ_CASES: readonly DrafterFuzzCase[] = [
  { fixture: "llama-chat-f32", seed: 1, steps: 300, kvCells: 256, maxSeqs: 64 },
  { fixture: "llama-chat-f32", seed: 2, steps: 300, kvCells: 40, maxSeqs: 5 },
  { fixture: "qwen2-bias-bf16", seed: 3, steps: 300, kvCells: 36, maxSeqs: 4, maxBatchRows: 5 },
  { fixture: "mistral-sharded-bf16", seed: 4, steps: 300, kvCells: 48, maxSeqs: 6 },
  { fixture: "llama-sp-f16", seed: 5, steps: 300, kvCells: 30, maxSeqs: 3 },
];

/** Longest accepted context before the conversation starts over (keeps reference runs small). */
const MAX_ACCEPTED = 28;

async function wholeShard(
  backend: ShardBackend,
  c: DrafterFuzzCase,
  kvCells: number,
  maxSeqs: number,
): Promise<LayerShard> {
  const [shard] = await makeShards(backend, c.fixture, [], { kvCells, maxSeqs });
  if (shard === undefined) throw new Error("no shard");
  return shard;
}

/** Nodes of the union of the contexts' paths and the canonical prefix (each needs one cell). */
function pathNodes(contexts: readonly Int32Array[], canonical: readonly number[]): number {
  const keys = new Set<string>();
  for (const c of [...contexts, Int32Array.from(canonical)]) {
    for (let i = 1; i <= c.length; i++) keys.add(Array.from(c.subarray(0, i)).join(","));
  }
  return keys.size;
}

export function describeDrafterFuzz(
  backend: ShardBackend,
  cases: readonly DrafterFuzzCase[] = DRAFTER_FUZZ_CASES,
): void {
  describe(`EngineDrafter under random call sequences (${backend})`, () => {
    const toDestroy: { destroy(): Promise<void> }[] = [];
    afterAll(() => Promise.all(toDestroy.map((d) => d.destroy())));

    for (const c of cases) {
      it(`${c.fixture}, seed ${c.seed}, ${c.kvCells} cells, ${c.maxSeqs} seqs`, async () => {
        const shard = await wholeShard(backend, c, c.kvCells, c.maxSeqs);
        const d = new EngineDrafter(shard, { maxBatchRows: c.maxBatchRows });
        const ref = new FromScratch(await wholeShard(backend, c, 128, 2));
        toDestroy.push(d, ref);
        const rng = new Rng(c.seed);
        const vocab = d.vocabSize;
        const token = (): number => rng.int(vocab);
        const pick = <T>(xs: readonly T[]): T | undefined => xs[rng.int(xs.length)];
        let accepted: number[] = [];
        /** Committed by the drafter (a prefix of some accepted context). */
        let canonical: number[] = [];
        /** Drafted paths (full contexts) that later chains and accepts build on. */
        let drafted: number[][] = [];
        let asked: Int32Array[] = [];
        let checked = 0;
        let fullErrors = 0;

        async function predict(
          contexts: Int32Array[],
          signal?: AbortSignal,
        ): Promise<DraftPrediction[] | null> {
          const topK = pick([1, 2, 3, 8]) ?? 1;
          const wantProbs = rng.next() < 0.3;
          let got: DraftPrediction[];
          try {
            got = await d.predict(contexts, { topK, wantProbs }, signal);
          } catch (e) {
            if (isEngineError(e, "ERR_ABORTED") && signal?.aborted === true) return null;
            // Full only when the request cannot fit even with everything else evicted.
            if (!isEngineError(e, "ERR_KV_FULL")) throw e;
            const bound = pathNodes(contexts, canonical) + contexts.length;
            expect(bound > c.kvCells || 2 * contexts.length > c.maxSeqs - 1, String(e)).toBe(true);
            fullErrors++;
            return null;
          }
          for (const [i, ctx] of contexts.entries()) {
            const want = await ref.predict(ctx, topK);
            expectSamePrediction(
              got[i]!,
              want,
              wantProbs,
              `step context [${Array.from(ctx).join(",")}]`,
            );
            checked++;
          }
          asked.push(...contexts);
          return got;
        }

        async function accept(next: number[]): Promise<void> {
          let lcp = 0;
          while (lcp < canonical.length && canonical[lcp] === next[lcp]) lcp++;
          accepted = next;
          await d.accept(Int32Array.from(next));
          const committed = d.stats().canonicalTokens;
          expect(committed, "canonical never passes the accepted context").toBeLessThanOrEqual(
            next.length,
          );
          expect(
            committed,
            "a consistent canonical prefix is never dropped",
          ).toBeGreaterThanOrEqual(lcp);
          canonical = next.slice(0, committed);
          const consistent = (p: number[]) => p.every((t, i) => i >= next.length || next[i] === t);
          drafted = drafted.filter(consistent);
        }

        /** A draft tree like the scheduler's: level by level from base, top-1 chains, splits on the top-2. */
        async function draftTree(base: number[]): Promise<void> {
          const shape = { maxDepth: 4, maxBranches: 3, splitChance: 0.35 };
          const paths = await growFuzzTree(base, rng, shape, predict);
          if (paths === null) return;
          drafted.push(...paths);
          drafted = drafted.slice(-12);
        }

        await accept(Array.from({ length: 3 + rng.int(6) }, token));
        for (let step = 0; step < c.steps; step++) {
          const r = rng.next();
          if (r < 0.35) {
            // Draft from the accepted context, or chain on from an earlier draft.
            const bases = drafted.filter((p) => p.length <= accepted.length + 8);
            const chain = rng.next() < 0.5 ? pick(bases) : undefined;
            await draftTree(chain ?? accepted);
          } else if (r < 0.6) {
            // Accept part of a draft (the target agreed), maybe plus a correction token.
            const from = pick(drafted.filter((p) => p.length > accepted.length));
            const agreed =
              from === undefined
                ? []
                : from.slice(accepted.length, accepted.length + 1 + rng.int(3));
            const correction = rng.next() < 0.6 ? [token()] : [];
            await accept([...accepted, ...agreed, ...correction]);
          } else if (r < 0.78) {
            // A batch of odd contexts: re-asks, extensions, prefixes of / divergences from the accepted one.
            const contexts: Int32Array[] = [];
            for (let i = 0; i < 1 + rng.int(3); i++) {
              const kind = rng.int(4);
              const old = pick(asked);
              if (kind === 0 && old !== undefined) contexts.push(old);
              else if (kind === 1) contexts.push(Int32Array.from([...accepted, token(), token()]));
              else if (kind === 2)
                contexts.push(Int32Array.from(accepted.slice(0, 1 + rng.int(accepted.length))));
              else
                contexts.push(
                  Int32Array.from([...accepted.slice(0, rng.int(accepted.length)), token()]),
                );
            }
            await predict(contexts);
          } else if (r < 0.86) {
            // Abort mid-run (or before it starts): the cache must stay exact.
            const ac = new AbortController();
            const contexts = [
              Int32Array.from([...accepted, token()]),
              Int32Array.from([...accepted, token(), token()]),
            ];
            if (rng.next() < 0.5) setImmediate(() => ac.abort());
            else ac.abort();
            await predict(contexts, ac.signal);
          } else if (r < 0.93) {
            // The conversation was edited: the accepted context is replaced.
            const keep = rng.int(accepted.length + 1);
            await accept([
              ...accepted.slice(0, keep),
              ...Array.from({ length: 1 + rng.int(3) }, token),
            ]);
          } else {
            await d.reset();
            canonical = [];
            drafted = [];
            await accept(Array.from({ length: 3 + rng.int(6) }, token));
          }
          if (accepted.length > MAX_ACCEPTED) {
            await d.reset();
            canonical = [];
            drafted = [];
            asked = [];
            await accept(Array.from({ length: 3 + rng.int(6) }, token));
          }
          expect(await shard.kvUsed(), `step ${step}: shard cells vs drafter's count`).toBe(
            d.stats().cellsUsed,
          );
        }
        expect(checked).toBeGreaterThan(c.steps);
        // The tiny budgets must actually evict (the large one never needs to).
        if (c.kvCells < 64) expect(d.stats().evictions).toBeGreaterThan(0);
        expect(fullErrors).toBeLessThan(c.steps / 4);
      });
    }
  });
}
