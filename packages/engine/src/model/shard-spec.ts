// ShardSpec: what one shard is (model location, layer range, role, backend, KV size), the arguments a
// backend factory receives, and the helper that splits a model's layers into contiguous shards.
// Types and pure arithmetic only; loading and building live in create-shard.ts.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { ShardWeights } from "./weights.ts";

export type ShardBackend = "cpu" | "webgpu";

export const DEFAULT_MAX_SEQS = 64;
export const DEFAULT_TOP_K = 8;

export interface ShardSpec {
  /** Model directory: a file system path (Node) or a URL (browser and Node). */
  model: string;
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
  /** The shard embeds token ids (it is first). */
  embeds: boolean;
  /** The shard is the tail: it applies the final norm and LM head (it is last). */
  tail: boolean;
  backend: ShardBackend;
  /** KV cache cells (tokens of context across all sequences). */
  kvCells: number;
  /** Sequence ids per cell (0 .. maxSeqs-1); default DEFAULT_MAX_SEQS. */
  maxSeqs?: number | undefined;
  /** Default top-k returned per output row; default DEFAULT_TOP_K. */
  topK?: number | undefined;
}

/** What a backend factory (CPU or WebGPU) receives. `device` is a GPUDevice for the WebGPU backend. */
export interface ShardFactoryArgs {
  config: ModelConfig;
  weights: ShardWeights;
  spec: ShardSpec;
  device?: unknown;
}

/** A layer range with its role, as splitLayers returns it. */
export interface LayerRange {
  layerStart: number;
  layerEnd: number;
  embeds: boolean;
  /** The last range (final norm and LM head). */
  tail: boolean;
}

/**
 * Splits numLayers into `count` contiguous ranges as evenly as possible (earlier shards get the extra
 * layer), or at explicit boundaries when `boundaries` (strictly increasing, inside (0, numLayers)) is given.
 */
export function splitLayers(
  numLayers: number,
  count: number,
  boundaries?: readonly number[],
): LayerRange[] {
  if (!Number.isInteger(numLayers) || numLayers < 1) {
    throw new EngineError("ERR_BATCH_INVALID", `numLayers must be >= 1, got ${numLayers}`);
  }
  let cuts: number[];
  if (boundaries !== undefined) {
    cuts = [...boundaries];
    if (cuts.length !== count - 1) {
      throw new EngineError("ERR_BATCH_INVALID", `${count} shards need ${count - 1} boundaries`);
    }
  } else {
    if (!Number.isInteger(count) || count < 1 || count > numLayers) {
      throw new EngineError(
        "ERR_BATCH_INVALID",
        `cannot split ${numLayers} layers into ${count} non-empty shards`,
      );
    }
    cuts = [];
    const base = Math.floor(numLayers / count);
    const extra = numLayers % count;
    let at = 0;
    for (let i = 0; i < count - 1; i++) {
      at += base + (i < extra ? 1 : 0);
      cuts.push(at);
    }
  }
  const edges = [0, ...cuts, numLayers];
  const ranges: LayerRange[] = [];
  for (let i = 0; i < count; i++) {
    const layerStart = edges[i] ?? 0;
    const layerEnd = edges[i + 1] ?? numLayers;
    if (!(layerEnd > layerStart)) {
      throw new EngineError(
        "ERR_BATCH_INVALID",
        `boundaries ${cuts.join(",")} leave an empty shard`,
      );
    }
    ranges.push({ layerStart, layerEnd, embeds: i === 0, tail: i === count - 1 });
  }
  return ranges;
}
