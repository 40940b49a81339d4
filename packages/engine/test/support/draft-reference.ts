// The oracle for drafter tests: what a model computes for one context from scratch, with no cache (the KV
// cache cleared, the whole context run as one canonical batch), and bitwise comparison of predictions.
// Test-only.

import { expect } from "vitest";
import { softmaxRef } from "../../src/kernels/reference.ts";
import type { LayerShard } from "../../src/model/batch.ts";
import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import { bitsOf } from "../suites/backends.ts";

export class FromScratch {
  readonly #shard: LayerShard;
  readonly #memo = new Map<string, DraftPrediction>();
  runs = 0;

  /** `shard` is a whole-model shard with enough cells for the longest context; this class owns it. */
  constructor(shard: LayerShard) {
    this.#shard = shard;
  }

  async predict(context: ArrayLike<number>, topK: number): Promise<DraftPrediction> {
    const key = `${topK}:${Array.from(context).join(",")}`;
    const hit = this.#memo.get(key);
    if (hit !== undefined) return hit;
    const n = context.length;
    await this.#shard.kv({ op: "clear" });
    const result = await this.#shard.run({
      tokens: Int32Array.from(context),
      positions: Int32Array.from({ length: n }, (_, i) => i),
      seqIds: Array.from({ length: n }, () => [0]),
      outputRows: Int32Array.of(n - 1),
      logitsRows: Int32Array.of(n - 1),
      topK,
    });
    this.runs++;
    const out = result.outputs?.[0];
    if (out?.logits === undefined) throw new Error("reference run returned no logits");
    const pred = { topIds: out.topIds, topProbs: out.topProbs, probs: softmaxRef(out.logits) };
    this.#memo.set(key, pred);
    return pred;
  }

  destroy(): Promise<void> {
    return this.#shard.destroy();
  }
}

/** Asserts `got` equals the reference bit for bit (probs only when `wantProbs`). */
export function expectSamePrediction(
  got: DraftPrediction,
  want: DraftPrediction,
  wantProbs: boolean,
  what: string,
): void {
  expect(Array.from(got.topIds), `${what}: topIds`).toEqual(Array.from(want.topIds));
  expect(Array.from(bitsOf(got.topProbs)), `${what}: topProbs bits`).toEqual(
    Array.from(bitsOf(want.topProbs)),
  );
  if (!wantProbs) {
    expect(got.probs, `${what}: probs not asked`).toBeUndefined();
    return;
  }
  if (got.probs === undefined || want.probs === undefined) throw new Error(`${what}: no probs`);
  const a = bitsOf(got.probs);
  const b = bitsOf(want.probs);
  const first = a.findIndex((v, i) => v !== b[i]);
  expect(a.length, `${what}: probs length`).toBe(b.length);
  expect(first, `${what}: first differing probability`).toBe(-1);
}
