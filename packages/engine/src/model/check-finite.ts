// The shard's output check: hidden states, probabilities and logits holding NaN or infinity are
// ERR_NONFINITE naming the shard's layer range, raised where they were made, so a broken layer (overflow in
// f16, a bad weight block, a driver fault) fails its run with a code instead of travelling on as numbers a
// receiver cannot decode. One linear scan of what the run returns; loadLayerShard applies it to every backend.

import { EngineError } from "../errors.ts";
import type { LayerShard, ShardResult } from "./batch.ts";

function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (x - x !== 0) return i; // NaN for NaN and ±Infinity, 0 for every finite value
  }
  return -1;
}

function check(values: ArrayLike<number>, what: string, shard: string): void {
  const i = firstNonFinite(values);
  if (i >= 0)
    throw new EngineError(
      "ERR_NONFINITE",
      `layers ${shard}: ${what} hold ${String(values[i])} at index ${i} of ${values.length}`,
    );
}

/** Throws ERR_NONFINITE when a run's result holds NaN or infinity; `shard` names it (e.g. "4-8"). */
export function checkFiniteResult(result: ShardResult, shard: string): void {
  if (result.hidden !== undefined) check(result.hidden, "output hidden states", shard);
  for (const o of result.outputs ?? []) {
    check([o.prob], `row ${o.row} probability`, shard);
    check(o.topProbs, `row ${o.row} top-k probabilities`, shard);
    if (o.logits !== undefined) check(o.logits, `row ${o.row} logits`, shard);
  }
}

/** The same shard (identity and extra members kept) whose runs check their results. */
export function withFiniteOutputs<S extends LayerShard>(shard: S): S {
  const run = shard.run.bind(shard);
  const name = `${shard.info.layerStart}-${shard.info.layerEnd}`;
  shard.run = async (batch, signal) => {
    const result = await run(batch, signal);
    checkFiniteResult(result, name);
    return result;
  };
  return shard;
}
