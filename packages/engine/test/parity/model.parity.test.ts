// Model parity of the WebGPU backend on the golden fixtures (10 tiny models: odd heads, GQA 1-7, head_dim
// 8-20, biases, tied/untied heads, llama3 RoPE, a sharded checkpoint, hidden/q/intermediate/vocab sizes
// that are not multiples of 4): prompt logits against the float64
// goldens and against the CPU backend, identical greedy tokens; and matrices split across several storage
// buffers (as on adapters with small binding limits) give bit-identical logits.

import { afterAll, describe, expect, it } from "vitest";
import { loadShardWeights } from "../../src/loader/load-weights.ts";
import type { LayerShard, RowOutput } from "../../src/model/batch.ts";
import { openModelDir } from "../../src/node/file-source.ts";
import { createWebGpuShard } from "../../src/webgpu/create-webgpu-shard.ts";
import {
  loadGolden,
  MODEL_FIXTURES,
  modelFixtureDir,
  PRIMARY_FIXTURE,
} from "../fixtures/fixtures.ts";
import { bitsOf, destroyAll, fixtureConfig, makeShards } from "../suites/backends.ts";
import { greedyGenerate, runPipeline } from "../suites/pipeline.ts";
import { allClose } from "../support/all-close.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const probe = await openNodeGpu("auto");
probe.ctx?.destroy();

/** max |a - b| / max |b|: the error relative to the expected values' scale. */
function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((actual[i] ?? NaN) - (expected[i] ?? 0)));
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return Number.isNaN(maxDiff) ? Infinity : maxDiff / scale;
}

function logitsOf(outputs: RowOutput[], vocab: number): Float32Array {
  const out = new Float32Array(outputs.length * vocab);
  for (const o of outputs) out.set(o.logits ?? [], o.row * vocab);
  return out;
}

describe.skipIf(probe.ctx === null)(`WebGPU model parity ${probe.reason}`, () => {
  const live: LayerShard[] = [];
  afterAll(() => destroyAll(live));

  describe.each(MODEL_FIXTURES)("%s", (fixture) => {
    it("prompt logits match the golden and the CPU backend; greedy tokens are identical", async () => {
      const { golden, logits: goldenLogits } = loadGolden(fixture);
      const config = await fixtureConfig(fixture);
      const gpu = await makeShards("webgpu", fixture, [], { kvCells: 48 });
      const cpu = await makeShards("cpu", fixture, [], { kvCells: 48 });
      live.push(...gpu, ...cpu);
      expect(gpu[0]!.info.backend).toBe("webgpu");
      const all = golden.prompt.map((_, i) => i);
      const rows = { tokens: golden.prompt, positions: all, logitsRows: all };
      const g = logitsOf((await runPipeline(gpu, rows)).outputs, config.vocabSize);
      const c = logitsOf((await runPipeline(cpu, rows)).outputs, config.vocabSize);
      expect(scaledError(g, goldenLogits)).toBeLessThan(1e-4);
      const vsCpu = allClose(g, c, { atol: 1e-4, rtol: 1e-4 });
      expect(vsCpu.first, `max abs diff ${vsCpu.maxAbsDiff}`).toEqual([]);
      await destroyAll(gpu);
      const fresh = await makeShards("webgpu", fixture, [], { kvCells: 48 });
      live.push(...fresh);
      expect(await greedyGenerate(fresh, golden.prompt, golden.greedy.length)).toEqual(
        golden.greedy,
      );
    });
  });

  it("matrices split into many storage buffers give bit-identical logits", async () => {
    const fixture = PRIMARY_FIXTURE;
    const { golden } = loadGolden(fixture);
    const config = await fixtureConfig(fixture);
    const dir = openModelDir(modelFixtureDir(fixture));
    const spec = {
      model: modelFixtureDir(fixture),
      layerStart: 0,
      layerEnd: config.numLayers,
      embeds: true,
      tail: true,
      backend: "webgpu" as const,
      kvCells: 32,
    };
    const weights = await loadShardWeights(dir, config, spec);
    // 1 KiB parts: every matrix (and the LM head) is split into parts of a few output rows.
    const split = await createWebGpuShard({ config, weights, spec }, { maxPartBytes: 1024 });
    const whole = await createWebGpuShard({ config, weights, spec });
    live.push(split, whole);
    const all = golden.prompt.map((_, i) => i);
    const rows = { tokens: golden.prompt, positions: all, logitsRows: all };
    const a = (await runPipeline([split], rows)).outputs;
    const b = (await runPipeline([whole], rows)).outputs;
    for (const [i, o] of a.entries()) expect(bitsOf(o.logits!)).toEqual(bitsOf(b[i]!.logits!));
  });
});
