// The room's description of a model (ModelInfo): its id (a path under the server's /models/) and the byte
// sizes the planner needs, from the model's config.json and the engine's footprint arithmetic.

import { loadModelConfig, modelFootprint, type ModelConfig } from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import type { ModelInfo } from "@pipemesh/mesh";

/** Cells beyond the context that speculative partitions may occupy at once. */
export const SPECULATIVE_CELLS = 512;
const DEFAULT_CONTEXT = 2048;

/** KV cells a peer allocates by default: the context it serves plus room for speculative runs. */
export function defaultKvCells(config: Pick<ModelConfig, "maxPositions">): number {
  return Math.min(config.maxPositions, DEFAULT_CONTEXT) + SPECULATIVE_CELLS;
}

/** layerBytes includes each layer's K/V for the default cell count, so budgets cover the cache too. */
export async function modelInfoFor(
  dir: string,
  id: string,
  signal?: AbortSignal,
): Promise<ModelInfo> {
  const config = await loadModelConfig(openModelDir(dir), signal);
  const fp = modelFootprint(config);
  return {
    id,
    layerCount: config.numLayers,
    layerBytes: fp.layerBytes + fp.kvBytesPerCellPerLayer * defaultKvCells(config),
    embedBytes: fp.embedBytes,
    headBytes: fp.headBytes,
  };
}
