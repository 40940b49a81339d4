// A shard's outputs holding NaN or infinity fail its run with ERR_NONFINITE naming its layer range; finite
// outputs pass unchanged and the shard keeps its identity.
import { describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import type { LayerShard, ShardResult } from "../../src/model/batch.ts";
import { checkFiniteResult, withFiniteOutputs } from "../../src/model/check-finite.ts";

const row = (prob: number, logits?: Float32Array): ShardResult => ({
  outputs: [
    { row: 0, argmax: 1, prob, topIds: Int32Array.of(1), topProbs: Float32Array.of(prob), logits },
  ],
});

describe("shard output check", () => {
  it("passes finite results and names the first non-finite value", () => {
    expect(() => checkFiniteResult({ hidden: Float32Array.of(1, -2, 3e38) }, "0-4")).not.toThrow();
    expect(() => checkFiniteResult(row(0.5, Float32Array.of(-80, 12)), "4-8")).not.toThrow();
    const err = (() => {
      try {
        checkFiniteResult({ hidden: Float32Array.of(1, Number.NaN) }, "0-4");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(isEngineError(err, "ERR_NONFINITE")).toBe(true);
    expect(String(err)).toMatch(/layers 0-4: output hidden states hold NaN at index 1 of 2/);
    expect(() => checkFiniteResult(row(Number.NaN), "4-8")).toThrow(/ERR_NONFINITE/);
    expect(() => checkFiniteResult(row(0.5, Float32Array.of(0, -Infinity)), "4-8")).toThrow(
      /row 0 logits hold -Infinity/,
    );
  });

  it("wraps a shard's runs in place", async () => {
    let next: ShardResult = { hidden: Float32Array.of(1, 2) };
    const shard = {
      info: { layerStart: 2, layerEnd: 5 },
      run: () => Promise.resolve(next),
      kv: () => Promise.resolve(),
      kvUsed: () => Promise.resolve(0),
      destroy: () => Promise.resolve(),
    } as unknown as LayerShard;
    const checked = withFiniteOutputs(shard);
    expect(checked).toBe(shard);
    await expect(checked.run({} as never)).resolves.toBe(next);
    next = { hidden: Float32Array.of(Infinity) };
    await expect(checked.run({} as never)).rejects.toThrow(/ERR_NONFINITE: layers 2-5/);
  });
});
