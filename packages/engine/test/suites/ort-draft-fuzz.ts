// OrtDrafter under random call sequences, parameterised by session (the exact fake or a real onnxruntime
// session): draft trees grown level by level like the scheduler's, chains on earlier drafts, accepts of
// drafted tokens plus corrections (rollback), odd contexts (re-asks, prefixes and divergences of the
// accepted context), aborts, failed runs, edits and resets, with batching on or off, tiny chunks and tiny
// K/V budgets. Every prediction must equal a from-scratch run of the same model (bit for bit on the fake;
// within a tolerance, ties allowed, on onnxruntime), and K/V must not leak.

import { afterAll, describe, expect, it } from "vitest";
import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import { OrtDrafter, type OrtDrafterOptions } from "../../src/draft/ort-drafter.ts";
import type { DraftSession } from "../../src/draft/ort-session.ts";
import { isEngineError } from "../../src/errors.ts";
import { expectSamePrediction } from "../support/draft-reference.ts";
import { FakeDraftSession } from "../support/fake-draft-session.ts";
import { expectClosePrediction, fromScratch } from "../support/ort-reference.ts";
import { growFuzzTree } from "../support/fuzz-draft-tree.ts";
import { Rng } from "../support/random.ts";

export interface OrtFuzzCase {
  seed: number;
  steps: number;
  options: OrtDrafterOptions;
}

export const FAKE_FUZZ_CASES: readonly OrtFuzzCase[] = [
  { seed: 1, steps: 300, options: {} },
  { seed: 2, steps: 300, options: { batchContexts: false } },
  { seed: 3, steps: 300, options: { maxChunkTokens: 3, maxBatchRows: 2 } },
  // About three short paths of K/V: evicts constantly.
  { seed: 4, steps: 300, options: { maxKvBytes: 3 * 2 * 2 * 2 * 3 * 4 * 12 } },
  { seed: 5, steps: 300, options: { maxKvBytes: 1, maxStatelessNodes: 8, maxChunkTokens: 5 } },
];

/** Longest accepted context before the conversation starts over. */
const MAX_ACCEPTED = 40;
/** With an unlimited budget, live blobs stay near the number of live branches. */
const MAX_LIVE_BLOBS = 64;

export function describeOrtDrafterFuzz(
  title: string,
  makeSession: () => Promise<DraftSession>,
  cases: readonly OrtFuzzCase[],
  exact: boolean,
): void {
  describe(`OrtDrafter under random call sequences (${title})`, () => {
    const toRelease: { release(): Promise<void> }[] = [];
    const toDestroy: { destroy(): Promise<void> }[] = [];
    afterAll(async () => {
      await Promise.all(toDestroy.map((d) => d.destroy()));
      await Promise.all(toRelease.map((s) => s.release()));
    });

    for (const c of cases) {
      it(`seed ${c.seed}, ${JSON.stringify(c.options)}`, async () => {
        const session = await makeSession();
        const d = new OrtDrafter(session, c.options);
        const ref = await makeSession();
        toDestroy.push(d);
        toRelease.push(ref);
        const rng = new Rng(c.seed);
        const vocab = d.vocabSize;
        const token = (): number => rng.int(vocab);
        const pick = <T>(xs: readonly T[]): T | undefined => xs[rng.int(xs.length)];
        const memo = new Map<string, DraftPrediction>();
        let accepted: number[] = [];
        let drafted: number[][] = [];
        let asked: Int32Array[] = [];
        let checked = 0;
        let failures = 0;

        async function reference(ctx: Int32Array, topK: number): Promise<DraftPrediction> {
          const key = `${topK}:${ctx.join(",")}`;
          let p = memo.get(key);
          if (p === undefined) {
            p = await fromScratch(ref, ctx, topK);
            memo.set(key, p);
          }
          return p;
        }

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
            if (e instanceof Error && e.message === "injected failure") return null;
            throw e;
          }
          for (const [i, ctx] of contexts.entries()) {
            const want = await reference(ctx, topK);
            const what = `context [${ctx.join(",")}]`;
            if (exact) expectSamePrediction(got[i]!, want, wantProbs, what);
            else expectClosePrediction(got[i]!, want, wantProbs, what);
            checked++;
          }
          asked.push(...contexts);
          asked = asked.slice(-32);
          return got;
        }

        async function accept(next: number[]): Promise<void> {
          accepted = next;
          await d.accept(Int32Array.from(next));
          const consistent = (p: number[]) => p.every((t, i) => i >= next.length || next[i] === t);
          drafted = drafted.filter(consistent);
        }

        async function restart(): Promise<void> {
          await d.reset();
          expect(d.stats().kvBytes, "reset frees all K/V").toBe(0);
          expect(d.stats().blobs).toBe(0);
          drafted = [];
          asked = [];
          await accept(Array.from({ length: 1 + rng.int(8) }, token));
        }

        async function draftTree(base: number[]): Promise<void> {
          const shape = { maxDepth: 5, maxBranches: 4, splitChance: 0.4 };
          const paths = await growFuzzTree(base, rng, shape, predict);
          if (paths === null) return;
          drafted.push(...paths);
          drafted = drafted.slice(-12);
        }

        await accept(Array.from({ length: 3 + rng.int(6) }, token));
        for (let step = 0; step < c.steps; step++) {
          const r = rng.next();
          if (r < 0.35) {
            const bases = drafted.filter((p) => p.length <= accepted.length + 10);
            const chain = rng.next() < 0.5 ? pick(bases) : undefined;
            await draftTree(chain ?? accepted);
          } else if (r < 0.6) {
            const from = pick(drafted.filter((p) => p.length > accepted.length));
            const agreed =
              from === undefined
                ? []
                : from.slice(accepted.length, accepted.length + 1 + rng.int(4));
            const correction = rng.next() < 0.6 ? [token()] : [];
            await accept([...accepted, ...agreed, ...correction]);
          } else if (r < 0.76) {
            const contexts: Int32Array[] = [];
            for (let i = 0; i < 1 + rng.int(4); i++) {
              const kind = rng.int(5);
              const old = pick(asked);
              if (kind === 0 && old !== undefined) contexts.push(old);
              else if (kind === 1) contexts.push(Int32Array.from([...accepted, token(), token()]));
              else if (kind === 2)
                contexts.push(Int32Array.from(accepted.slice(0, 1 + rng.int(accepted.length))));
              else if (kind === 3)
                contexts.push(
                  Int32Array.from([...accepted.slice(0, rng.int(accepted.length)), token()]),
                );
              else
                contexts.push(Int32Array.from([...accepted, ...Array.from({ length: 9 }, token)]));
            }
            await predict(contexts);
          } else if (r < 0.84) {
            const ac = new AbortController();
            const contexts = [
              Int32Array.from([...accepted, token()]),
              Int32Array.from([...accepted, token(), token(), token()]),
              Int32Array.from([...accepted.slice(0, 1), token()]),
            ];
            if (rng.next() < 0.5) setImmediate(() => ac.abort());
            else ac.abort();
            await predict(contexts, ac.signal);
          } else if (r < 0.88 && session instanceof FakeDraftSession) {
            session.failNext = new Error("injected failure");
            if ((await predict([Int32Array.from([...accepted, token()])])) === null) failures++;
          } else if (r < 0.95) {
            const keep = rng.int(accepted.length + 1);
            await accept([
              ...accepted.slice(0, keep),
              ...Array.from({ length: 1 + rng.int(3) }, token),
            ]);
          } else {
            await restart();
          }
          if (accepted.length > MAX_ACCEPTED) await restart();
          const stats = d.stats();
          expect(d.audit(), `step ${step}: blobs the trie references`).toEqual({
            blobs: stats.blobs,
            kvBytes: stats.kvBytes,
          });
          if (c.options.maxKvBytes === undefined) {
            expect(stats.blobs, `step ${step}: live blobs (a leak?)`).toBeLessThan(MAX_LIVE_BLOBS);
          }
        }
        expect(checked).toBeGreaterThan(c.steps);
        if (c.options.maxKvBytes !== undefined) expect(d.stats().evictions).toBeGreaterThan(0);
        if (session instanceof FakeDraftSession) expect(failures).toBeGreaterThan(0);
      });
    }
  });
}

export const fakeSession = (): Promise<DraftSession> => Promise.resolve(new FakeDraftSession());
