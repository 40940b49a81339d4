// The room's description of a model (ModelInfo): its id (a path under the server's /models/) and the byte
// sizes the planner needs: each layer's tensors as stored in the model's files (quantized GGUF files mix
// types per layer) plus its K/V cache, the embedding table and the head.

import {
  loadModelBytes,
  loadModelConfig,
  modelFootprint,
  type ModelConfig,
  type ModelDir,
} from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import { contextLength, kvSizing, SPECULATIVE_CELLS } from "@pipemesh/head";
import { modelMessageBytes, type ModelInfo } from "@pipemesh/mesh";

export { contextLength, SPECULATIVE_CELLS };

/** KV cells a peer allocates: the context it serves plus room for speculative runs. */
export function defaultKvCells(config: Pick<ModelConfig, "maxPositions">, ctx?: number): number {
  return kvSizing(config, ctx).kvCells;
}

/**
 * The layer sizes include each layer's K/V for the room's context (`ctx`, else the default), so budgets
 * cover the cache too; layerSizes is set when layers differ.
 */
export async function modelInfoFor(
  location: string,
  id: string,
  signal?: AbortSignal,
  ctx?: number,
): Promise<ModelInfo> {
  return modelInfoOf(openModelDir(location), id, signal, ctx);
}

/** modelInfoFor on an opened model (a local directory or file, a URL, a resolved Hub source). */
export async function modelInfoOf(
  dir: ModelDir,
  id: string,
  signal?: AbortSignal,
  ctx?: number,
): Promise<ModelInfo> {
  const config = await loadModelConfig(dir, signal);
  const bytes = await loadModelBytes(dir, config, signal);
  const kvPerToken = modelFootprint(config).kvBytesPerCellPerLayer;
  const kv = kvPerToken * defaultKvCells(config, ctx);
  const sizes = bytes.layerBytes.map((b) => b + kv);
  const mean = Math.ceil(sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length));
  const info: ModelInfo = {
    id,
    layerCount: config.numLayers,
    layerBytes: mean,
    contextLength: contextLength(config, ctx),
    kvBytesPerToken: kvPerToken,
    embedBytes: bytes.embedBytes,
    headBytes: bytes.headBytes,
    // Peers refuse larger messages: the biggest run or logits block this model can produce.
    maxMessageBytes: modelMessageBytes(config),
  };
  if (sizes.some((b) => b !== sizes[0])) info.layerSizes = sizes;
  return info;
}
