// The WebGPU shard's own behaviour in Node (Dawn): info, coded errors from guards (ERR_GPU_LIMIT,
// ERR_KERNEL_SHAPE), device loss (ERR_GPU_LOST), destroy (ERR_DESTROYED, idempotent), runs that outgrow
// the scratch capacity giving the same bits as runs that do not, and shapes with no multiple of 4 in
// sight (hidden 50, q 60, intermediate 77, vocab 101) matching the CPU backend.

import { afterAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { createDimsUniform, createStorage } from "../../src/gpu/buffers.ts";
import { workgroupGrid } from "../../src/gpu/dispatch.ts";
import { bindMatmul } from "../../src/kernels/matmul.ts";
import type { LayerShard, ShardBatch } from "../../src/model/batch.ts";
import { dawnAdapterFromEnv } from "../../src/node/dawn.ts";
import { createWebGpuShard } from "../../src/webgpu/create-webgpu-shard.ts";
import { createCpuShard } from "../../src/model/cpu-shard.ts";
import { bitsOf } from "../suites/backends.ts";
import { allClose } from "../support/all-close.ts";
import { openNodeGpu } from "../support/node-gpu.ts";
import { randomModel, type RandomModelShape } from "../support/random-model.ts";

const gpu = await openNodeGpu("auto");

const SHAPE: RandomModelShape = {
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 48,
  vocab: 64,
};

function spec(layers: number, kvCells = 64) {
  return {
    model: "random",
    layerStart: 0,
    layerEnd: layers,
    embeds: true,
    tail: true,
    backend: "webgpu" as const,
    kvCells,
  };
}

function batch(tokens: number[], start: number): ShardBatch {
  return {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds: tokens.map(() => [0]),
    outputRows: Int32Array.from(tokens, (_, i) => i),
    logitsRows: Int32Array.from(tokens, (_, i) => i),
  };
}

describe.skipIf(gpu.ctx === null)(`WebGPU shard behaviour ${gpu.reason}`, () => {
  const ctx = gpu.ctx!;
  const live: LayerShard[] = [];
  afterAll(async () => {
    for (const s of live) await s.destroy();
    ctx.destroy();
  });

  it("reports the backend, adapter and weight bytes", async () => {
    const { config, weights } = randomModel(SHAPE);
    const shard = await createWebGpuShard({
      config,
      weights,
      spec: config.numLayers === 2 ? spec(2) : spec(0),
      device: ctx,
    });
    live.push(shard);
    expect(shard.info.backend).toBe("webgpu");
    expect(shard.info.adapter).toContain(ctx.adapter.device);
    expect(shard.info.weightBytes).toBeGreaterThan(4 * SHAPE.vocab * SHAPE.hidden);
  });

  it("runs that outgrow the scratch capacity give the same bits as small runs", async () => {
    const { config, weights } = randomModel(SHAPE);
    const tokens = Array.from({ length: 40 }, (_, i) => (i * 13) % SHAPE.vocab);
    const big = await createWebGpuShard({ config, weights, spec: spec(2), device: ctx });
    const small = await createWebGpuShard({ config, weights, spec: spec(2), device: ctx });
    live.push(big, small);
    // 40 rows at once (capacity grows from 8 to 64) versus chunks of 3 (capacity never grows).
    const all = (await big.run(batch(tokens, 0))).outputs!;
    for (let at = 0; at < tokens.length; at += 3) {
      const chunk = tokens.slice(at, at + 3);
      const outs = (await small.run(batch(chunk, at))).outputs!;
      for (const [i, o] of outs.entries()) {
        expect(bitsOf(o.logits!), `row ${at + i}`).toEqual(bitsOf(all[at + i]!.logits!));
      }
    }
  });

  it("refuses a KV cache larger than one storage binding with ERR_GPU_LIMIT", async () => {
    const { config, weights } = randomModel(SHAPE);
    const cells = Math.ceil(ctx.limits.maxStorageBufferBindingSize / (2 * config.kvDim * 4)) + 1;
    await expect(
      createWebGpuShard({ config, weights, spec: spec(2, cells), device: ctx }),
    ).rejects.toSatisfy((e) => isEngineError(e, "ERR_GPU_LIMIT"));
  });

  it("takes shapes that are not multiples of 4 and matches the CPU backend", async () => {
    // hidden 50, 5 heads of 12 (q 60 != hidden), 1 KV head (GQA 5), intermediate 77, vocab 101.
    const odd = {
      hidden: 50,
      layers: 2,
      heads: 5,
      kvHeads: 1,
      headDim: 12,
      intermediate: 77,
      vocab: 101,
    };
    const { config, weights } = randomModel(odd);
    const gpuShard = await createWebGpuShard({ config, weights, spec: spec(2), device: ctx });
    const cpuShard = await createCpuShard({
      config,
      weights,
      spec: { ...spec(2), backend: "cpu" },
    });
    live.push(gpuShard, cpuShard);
    const tokens = Array.from({ length: 11 }, (_, i) => (i * 37 + 5) % odd.vocab);
    const g = (await gpuShard.run(batch(tokens, 0))).outputs!;
    const c = (await cpuShard.run(batch(tokens, 0))).outputs!;
    for (const [i, o] of g.entries()) {
      const close = allClose(o.logits!, c[i]!.logits!, { atol: 1e-4, rtol: 1e-4 });
      expect(close.first, `row ${i}: max abs diff ${close.maxAbsDiff}`).toEqual([]);
    }
    // One more token decoded alone gives the bits of the same row in a batch.
    const alone = await createWebGpuShard({ config, weights, spec: spec(2), device: ctx });
    live.push(alone);
    await alone.run(batch(tokens.slice(0, 10), 0));
    const last = (await alone.run(batch(tokens.slice(10), 10))).outputs![0]!;
    expect(bitsOf(last.logits!)).toEqual(bitsOf(g[10]!.logits!));
  });

  it("guards matmul buffers against the padded row stride with ERR_KERNEL_SHAPE", () => {
    const b = createStorage(ctx, 1024, "b");
    // k = 6 rows are stored in 8 floats: 32 rows of w need 32 * 8 * 4 = 1024 bytes, 33 do not.
    expect(() =>
      bindMatmul(
        ctx,
        { k: 6, n: 32, bias: false, accumulate: false },
        { dims: createDimsUniform(ctx, "d"), x: b, w: b, y: b },
        1,
      ),
    ).not.toThrow();
    expect(() =>
      bindMatmul(
        ctx,
        { k: 6, n: 33, bias: false, accumulate: false },
        { dims: createDimsUniform(ctx, "d"), x: b, w: b, y: b },
        1,
      ),
    ).toThrow(/ERR_KERNEL_SHAPE: matmul: buffer w/);
    expect(() =>
      bindMatmul(
        ctx,
        { k: 8, n: 64, bias: false, accumulate: false },
        { dims: createDimsUniform(ctx, "d"), x: b, w: b, y: b },
        1,
      ),
    ).toThrow(/ERR_KERNEL_SHAPE: matmul: buffer w/);
  });

  it("destroy is idempotent and later calls reject with ERR_DESTROYED", async () => {
    const { config, weights } = randomModel(SHAPE);
    const shard = await createWebGpuShard({ config, weights, spec: spec(2), device: ctx });
    await shard.run(batch([1, 2], 0));
    await shard.destroy();
    await shard.destroy();
    await expect(shard.run(batch([3], 2))).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_DESTROYED"),
    );
    await expect(shard.kvUsed()).rejects.toSatisfy((e) => isEngineError(e, "ERR_DESTROYED"));
  });

  it("a lost device makes runs reject with ERR_GPU_LOST", async () => {
    const own = await openNodeGpu("auto");
    const device = own.ctx!.device;
    const { config, weights } = randomModel(SHAPE);
    // A borrowed GPUDevice: the shard never destroys it, so destroying it here is a loss to the shard.
    const shard = await createWebGpuShard({ config, weights, spec: spec(2), device });
    await shard.run(batch([1], 0));
    device.destroy();
    await device.lost;
    await expect(shard.run(batch([2], 1))).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_GPU_LOST"),
    );
    await shard.destroy();
    own.ctx!.destroy();
  });

  it("dispatch sizing folds into 2D and refuses what no grid holds", () => {
    expect(workgroupGrid(10, 65_535, "k")).toEqual([10, 1]);
    const [x, y] = workgroupGrid(70_000, 65_535, "k");
    expect(y).toBe(2);
    expect(x * y).toBeGreaterThanOrEqual(70_000);
    expect(() => workgroupGrid(65_536 * 65_536, 65_535, "k")).toThrow(/ERR_GPU_LIMIT/);
  });

  it("PIPEMESH_WEBGPU_ADAPTER names one adapter kind or fails with ERR_GPU_ADAPTER", () => {
    expect(dawnAdapterFromEnv({})).toBe("auto");
    expect(dawnAdapterFromEnv({ PIPEMESH_WEBGPU_ADAPTER: "swiftshader" })).toBe("swiftshader");
    expect(() => dawnAdapterFromEnv({ PIPEMESH_WEBGPU_ADAPTER: "metal" })).toThrow(
      /ERR_GPU_ADAPTER/,
    );
  });
});
