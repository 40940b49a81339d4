// The CPU backend against the float64 goldens of transformers: prompt logits within 1e-4 (relative to the
// logits' scale), per-layer hidden states of the primary fixture, and identical greedy tokens, for every
// fixture model (odd heads, GQA 1-7, head_dim 8/10/12/14/16/20, F32/F16/BF16, tied/untied, Qwen2 biases,
// llama3 RoPE scaling, a sharded checkpoint, hidden 50/63 and intermediate 77/90).

import { afterAll, describe, expect, it } from "vitest";
import type { LayerShard } from "../../src/model/batch.ts";
import { loadGolden, MODEL_FIXTURES, PRIMARY_FIXTURE } from "../fixtures/fixtures.ts";
import { destroyAll, fixtureConfig, makeShards } from "../suites/backends.ts";
import { greedyGenerate, runPipeline } from "../suites/pipeline.ts";

/** max |a - b| / max |b|: the error relative to the golden's scale. */
function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((actual[i] ?? NaN) - (expected[i] ?? 0)));
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return Number.isNaN(maxDiff) ? Infinity : maxDiff / scale;
}

const created: LayerShard[] = [];
afterAll(() => destroyAll(created));

describe.each(MODEL_FIXTURES)("CPU backend vs float64 golden: %s", (fixture) => {
  const { golden, logits: goldenLogits } = loadGolden(fixture);

  it("prompt logits match within 1e-4 of their scale", async () => {
    const config = await fixtureConfig(fixture);
    const shards = await makeShards("cpu", fixture);
    created.push(...shards);
    const p = golden.prompt.length;
    const all = golden.prompt.map((_, i) => i);
    const { outputs } = await runPipeline(shards, {
      tokens: golden.prompt,
      positions: all,
      logitsRows: all,
    });
    const logits = new Float32Array(p * config.vocabSize);
    for (const o of outputs) logits.set(o.logits ?? [], o.row * config.vocabSize);
    expect(scaledError(logits, goldenLogits)).toBeLessThan(1e-4);
    // Greedy argmax at every prompt position agrees too.
    for (const o of outputs) {
      const row = goldenLogits.subarray(o.row * config.vocabSize, (o.row + 1) * config.vocabSize);
      expect(o.argmax).toBe(row.indexOf(Math.max(...row)));
    }
  });

  it("greedy tokens are identical", async () => {
    const shards = await makeShards("cpu", fixture, [], { kvCells: 48 });
    created.push(...shards);
    const tokens = await greedyGenerate(shards, golden.prompt, golden.greedy.length);
    expect(tokens).toEqual(golden.greedy);
  });
});

describe(`CPU backend per-layer hidden states: ${PRIMARY_FIXTURE}`, () => {
  it("every layer's output matches the golden within 1e-4 of its scale", async () => {
    const { golden, hidden } = loadGolden(PRIMARY_FIXTURE);
    const config = await fixtureConfig(PRIMARY_FIXTURE);
    const p = golden.prompt.length;
    const size = p * config.hiddenSize;
    expect(hidden).toBeDefined();
    // One shard per layer: the hidden states between shards are the layer outputs.
    const cuts = Array.from({ length: config.numLayers - 1 }, (_, i) => i + 1);
    const shards = await makeShards("cpu", PRIMARY_FIXTURE, cuts);
    created.push(...shards);
    const run = await runPipeline(shards, {
      tokens: golden.prompt,
      positions: golden.prompt.map((_, i) => i),
    });
    expect(run.hidden).toHaveLength(config.numLayers - 1);
    for (const [l, h] of run.hidden.entries()) {
      const expected = hidden!.subarray((l + 1) * size, (l + 2) * size);
      expect(scaledError(h, expected), `layer ${l}`).toBeLessThan(1e-4);
    }
  });
});
