// createWebGpuShard: the WebGPU backend's factory (same signature as createCpuShard; create-shard.ts
// imports exactly this path and these names), and createWebGpuShardFromFeed, which uploads weights layer by
// layer as a loader streams them. Takes or acquires a device, checks the model fits the kernels and the
// device's limits, uploads the weights and returns a WebGpuShard.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import { borrowDevice, defaultGpu, describeAdapter, GpuContext } from "../gpu/device.ts";
import type { LayerShard, ShardInfo } from "../model/batch.ts";
import type { WeightConsumer } from "../loader/weight-reads.ts";
import {
  DEFAULT_MAX_SEQS,
  DEFAULT_TOP_K,
  type ShardFactoryArgs,
  type ShardSpec,
} from "../model/shard-spec.ts";
import type { ShardWeights } from "../model/weights.ts";
import type { PackedMatrix } from "../quant/tensor-type.ts";
import {
  destroyShardWeights,
  GpuWeightUploader,
  type GpuLayerWeights,
  type GpuMatrix,
  type GpuShardWeights,
} from "./gpu-weights.ts";
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
    (!spec.tail || (w.finalNorm !== undefined && w.lmHead !== undefined));
  if (!ok) {
    throw new EngineError(
      "ERR_INTERNAL",
      `weights for layers [${w.layerStart}, ${w.layerEnd}) do not fit shard [${spec.layerStart}, ${spec.layerEnd})`,
    );
  }
}

async function contextOf(device: unknown): Promise<GpuContext> {
  if (device instanceof GpuContext) return device;
  if (isGpuDevice(device)) return borrowDevice(device);
  if (device === undefined) return defaultGpu();
  throw new EngineError("ERR_GPU_ADAPTER", "args.device is neither a GPUDevice nor a GpuContext");
}

/** Feeds a consumer the shard's weights: from memory, or unit by unit as a loader reads them. */
export type WeightFeed = (consumer: WeightConsumer) => Promise<void>;

/**
 * Builds a WebGPU LayerShard whose weights arrive through `feed` one unit at a time (embeddings, each
 * layer, head): each layer is uploaded as it arrives and dropped, so host memory holds at most one layer
 * beyond what is on the device. A failed feed destroys every buffer uploaded so far.
 */
export async function createWebGpuShardFromFeed(
  config: ModelConfig,
  spec: ShardSpec,
  device: unknown,
  feed: WeightFeed,
  options: WebGpuShardOptions = {},
): Promise<LayerShard> {
  if (!Number.isInteger(spec.kvCells) || spec.kvCells < 1) {
    throw new EngineError("ERR_BATCH_INVALID", `kvCells must be >= 1, got ${spec.kvCells}`);
  }
  const ctx = await contextOf(device);
  guardKvCache(ctx, config, spec.kvCells);
  const uploader = new GpuWeightUploader(ctx, config, options.maxPartBytes);
  const layers: GpuLayerWeights[] = [];
  let embed: PackedMatrix | undefined;
  let head: { finalNorm: GPUBuffer; lmHead: GpuMatrix } | undefined;
  try {
    await feed({
      embed: (t) => {
        embed = t;
      },
      layer: (i, w) => {
        layers[i - spec.layerStart] = uploader.layer(w, i);
      },
      head: (norm, lmHead) => {
        head = uploader.head(norm, lmHead);
      },
    });
    const complete =
      layers.length === spec.layerEnd - spec.layerStart &&
      !layers.some((l) => l === undefined) &&
      (!spec.embeds || embed !== undefined) &&
      (!spec.tail || head !== undefined);
    if (!complete) {
      throw new EngineError(
        "ERR_INTERNAL",
        `the weights fed do not fit shard [${spec.layerStart}, ${spec.layerEnd})`,
      );
    }
  } catch (e) {
    uploader.destroyAll();
    throw e;
  }
  const gpu: GpuShardWeights = { layers, ...head, bytes: uploader.bytes };
  const maxSeqs = spec.maxSeqs ?? DEFAULT_MAX_SEQS;
  const info: ShardInfo = {
    layerStart: spec.layerStart,
    layerEnd: spec.layerEnd,
    embeds: spec.embeds,
    tail: spec.tail,
    backend: "webgpu",
    adapter: describeAdapter(ctx.adapter),
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    kvCells: spec.kvCells,
    maxSeqs,
    weightBytes: uploader.bytes,
  };
  const parts = {
    ctx,
    config,
    info,
    limits: {
      embeds: spec.embeds,
      tail: spec.tail,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositions: config.maxPositions,
      topK: spec.topK ?? DEFAULT_TOP_K,
    },
    host: { embed: spec.embeds ? embed : undefined },
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

/**
 * Builds a WebGPU LayerShard from weights in memory. `device` may be a GpuContext or a GPUDevice; without
 * one the shard uses the realm's default device (defaultGpu: navigator.gpu, or Dawn in Node). The shard
 * never destroys a device.
 */
export async function createWebGpuShard(
  args: ShardFactoryArgs,
  options: WebGpuShardOptions = {},
): Promise<LayerShard> {
  const { config, weights, spec } = args;
  checkWeights(weights, args);
  return createWebGpuShardFromFeed(
    config,
    spec,
    args.device,
    async (c) => {
      if (spec.embeds && weights.embed !== undefined) await c.embed?.(weights.embed);
      for (const [i, w] of weights.layers.entries()) await c.layer(spec.layerStart + i, w);
      if (spec.tail && weights.finalNorm !== undefined && weights.lmHead !== undefined) {
        await c.head?.(weights.finalNorm, weights.lmHead);
      }
    },
    options,
  );
}
