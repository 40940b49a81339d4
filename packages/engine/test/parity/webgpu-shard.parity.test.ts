// The WebGPU shard's own behaviour in Node (Dawn): info, coded errors from guards (ERR_GPU_LIMIT,
// ERR_CONFIG_UNSUPPORTED, ERR_KERNEL_SHAPE), device loss (ERR_GPU_LOST), destroy (ERR_DESTROYED,
// idempotent), and runs that outgrow the scratch capacity giving the same bits as runs that do not.

import { afterAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { createDimsUniform, createStorage } from "../../src/gpu/buffers.ts";
import { workgroupGrid } from "../../src/gpu/dispatch.ts";
import { bindMatmul } from "../../src/kernels/matmul.ts";
import type { LayerShard, ShardBatch } from "../../src/model/batch.ts";
import { dawnAdapterFromEnv } from "../../src/node/dawn.ts";
import { createWebGpuShard } from "../../src/webgpu/create-webgpu-shard.ts";
import { bitsOf } from "../suites/backends.ts";
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
    head: true,
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

  it("refuses shapes the vec4 matmul cannot take with ERR_CONFIG_UNSUPPORTED / ERR_KERNEL_SHAPE", async () => {
    const { config, weights } = randomModel({ ...SHAPE, intermediate: 50 });
    await expect(
      createWebGpuShard({ config, weights, spec: spec(2), device: ctx }),
    ).rejects.toSatisfy((e) => isEngineError(e, "ERR_CONFIG_UNSUPPORTED"));
    const b = createStorage(ctx, 1024, "b");
    expect(() =>
      bindMatmul(
        ctx,
        { k: 6, n: 4, bias: false, accumulate: false },
        { dims: createDimsUniform(ctx, "d"), x: b, w: b, y: b },
        1,
      ),
    ).toThrow(/ERR_KERNEL_SHAPE/);
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
