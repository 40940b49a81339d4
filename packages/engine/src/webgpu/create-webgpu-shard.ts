// createWebGpuShard: the WebGPU backend's factory (same signature as createCpuShard; create-shard.ts
// imports exactly this path and name). Takes or acquires a device, checks the model fits the kernels and
// the device's limits, uploads the weights and returns a WebGpuShard.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import { borrowDevice, defaultGpu, describeAdapter, GpuContext } from "../gpu/device.ts";
import type { LayerShard, ShardInfo } from "../model/batch.ts";
import { DEFAULT_MAX_SEQS, DEFAULT_TOP_K, type ShardFactoryArgs } from "../model/shard-spec.ts";
import { shardWeightBytes, type ShardWeights } from "../model/weights.ts";
import { destroyShardWeights, uploadShardWeights } from "./gpu-weights.ts";
import { guardBufferSize } from "../gpu/buffers.ts";
import { WebGpuShard } from "./webgpu-shard.ts";

export interface WebGpuShardOptions {
  /** Caps each uploaded matrix part (tests use it to exercise split matrices). */
  maxPartBytes?: number | undefined;
}

function isGpuDevice(d: unknown): d is GPUDevice {
  return (
    typeof d === "object" &&
    d !== null &&
    "createComputePipeline" in d &&
    "queue" in d &&
    "limits" in d
  );
}

/** ERR_GPU_LIMIT before any upload when one layer's K/V buffer cannot be bound on this device. */
function guardKvCache(ctx: GpuContext, config: ModelConfig, kvCells: number): void {
  guardBufferSize(
    ctx,
    kvCells * 2 * config.kvDim * 4,
    `the K/V cache of one layer (${kvCells} cells)`,
  );
}

function checkWeights(w: ShardWeights, args: ShardFactoryArgs): void {
  const { spec } = args;
  const ok =
    w.layerStart === spec.layerStart &&
    w.layerEnd === spec.layerEnd &&
    w.layers.length === spec.layerEnd - spec.layerStart &&
    (!spec.embeds || w.embed !== undefined) &&
    (!spec.head || (w.finalNorm !== undefined && w.lmHead !== undefined));
  if (!ok) {
    throw new EngineError(
      "ERR_INTERNAL",
      `weights for layers [${w.layerStart}, ${w.layerEnd}) do not fit shard [${spec.layerStart}, ${spec.layerEnd})`,
    );
  }
}

/**
 * Builds a WebGPU LayerShard. `device` may be a GpuContext or a GPUDevice; without one the shard uses the
 * realm's default device (defaultGpu: navigator.gpu, or Dawn in Node). The shard never destroys a device.
 */
export async function createWebGpuShard(
  args: ShardFactoryArgs,
  options: WebGpuShardOptions = {},
): Promise<LayerShard> {
  const { config, weights, spec } = args;
  checkWeights(weights, args);
  if (!Number.isInteger(spec.kvCells) || spec.kvCells < 1) {
    throw new EngineError("ERR_BATCH_INVALID", `kvCells must be >= 1, got ${spec.kvCells}`);
  }
  let ctx: GpuContext;
  if (args.device instanceof GpuContext) ctx = args.device;
  else if (isGpuDevice(args.device)) ctx = borrowDevice(args.device);
  else if (args.device === undefined) ctx = await defaultGpu();
  else {
    throw new EngineError("ERR_GPU_ADAPTER", "args.device is neither a GPUDevice nor a GpuContext");
  }
  guardKvCache(ctx, config, spec.kvCells);
  const gpu = uploadShardWeights(ctx, config, weights, spec.head, options.maxPartBytes);
  const maxSeqs = spec.maxSeqs ?? DEFAULT_MAX_SEQS;
  const info: ShardInfo = {
    layerStart: spec.layerStart,
    layerEnd: spec.layerEnd,
    embeds: spec.embeds,
    head: spec.head,
    backend: "webgpu",
    adapter: describeAdapter(ctx.adapter),
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    kvCells: spec.kvCells,
    maxSeqs,
    weightBytes: shardWeightBytes(weights),
  };
  const parts = {
    ctx,
    config,
    info,
    limits: {
      embeds: spec.embeds,
      head: spec.head,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositions: config.maxPositions,
      topK: spec.topK ?? DEFAULT_TOP_K,
    },
    host: { embed: spec.embeds ? weights.embed : undefined },
    gpu,
    kvCells: spec.kvCells,
    maxSeqs,
  };
  try {
    return new WebGpuShard(parts);
  } catch (e) {
    destroyShardWeights(gpu);
    throw e;
  }
}
