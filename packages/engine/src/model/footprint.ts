// Memory footprint of a model's parts at float32 (an upper bound for any stored type) and of its float32
// K/V, from the config alone. The planner sizes stages with the files' real bytes (loader/model-bytes.ts);
// this is for K/V sizing and for estimates before any file is read. Pure arithmetic.

import type { ModelConfig } from "../config.ts";

const F32 = 4;

export interface ModelFootprint {
  /** Weights of one transformer layer. */
  layerBytes: number;
  /** The token embedding table (held by the first shard / the head). */
  embedBytes: number;
  /** Final norm + LM head (held by the last shard; the tied head re-reads the embedding table). */
  headBytes: number;
  /** K and V of one cached token in one layer. */
  kvBytesPerCellPerLayer: number;
}

export function modelFootprint(c: ModelConfig): ModelFootprint {
  const h = c.hiddenSize;
  const attn = h * c.qDim + 2 * h * c.kvDim + c.qDim * h;
  const mlp = 3 * h * c.intermediateSize;
  const norms = 2 * h;
  const biases =
    (c.qkvBias ? c.qDim + 2 * c.kvDim : 0) +
    (c.oBias ? h : 0) +
    (c.mlpBias ? 2 * c.intermediateSize + h : 0);
  return {
    layerBytes: (attn + mlp + norms + biases) * F32,
    embedBytes: c.vocabSize * h * F32,
    headBytes: (c.vocabSize * h + h) * F32,
    kvBytesPerCellPerLayer: 2 * c.kvDim * F32,
  };
}

/** Bytes of the float32 K/V cache a shard of `layers` layers allocates for `kvCells` cells. */
export function kvCacheBytes(c: ModelConfig, layers: number, kvCells: number): number {
  return layers * kvCells * 2 * c.kvDim * F32;
}
