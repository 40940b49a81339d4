// The bytes a model's parts take as stored in its files (per layer, the embedding table, the final norm
// and LM head), from the tensor headers alone (safetensors headers or GGUF tensor infos; no tensor data is
// read). What the pipeline planner sizes stages with: quantized files mix types per layer, so layers can
// differ in size.

import type { ModelConfig } from "../config.ts";
import type { ModelDir } from "./byte-source.ts";
import { shardTensorReads } from "./load-weights.ts";

export interface ModelBytes {
  /** Bytes of each transformer layer's tensors. */
  layerBytes: number[];
  /** The token embedding table (held by the head). */
  embedBytes: number;
  /** Final norm + LM head (held by the tail; with tied embeddings the LM head is the table). */
  headBytes: number;
}

export async function loadModelBytes(
  dir: ModelDir,
  config: ModelConfig,
  signal?: AbortSignal,
): Promise<ModelBytes> {
  const reads = await shardTensorReads(
    dir,
    config,
    { layerStart: 0, layerEnd: config.numLayers, embeds: true, tail: true },
    signal,
  );
  const layerBytes = new Array<number>(config.numLayers).fill(0);
  let embedBytes = 0;
  let headBytes = 0;
  for (const r of reads) {
    if (typeof r.slot === "object")
      layerBytes[r.slot.layer] = (layerBytes[r.slot.layer] ?? 0) + r.sizeBytes;
    else if (r.slot === "embed") embedBytes += r.sizeBytes;
    else headBytes += r.sizeBytes;
  }
  if (config.tieWordEmbeddings) headBytes += embedBytes;
  return { layerBytes, embedBytes, headBytes };
}
