// The tensors one shard needs (its layers; embeddings if first; final norm and LM head if last), named as
// in Hugging Face checkpoints, with the shapes the config implies and the slot each value fills. Shared by
// the safetensors and GGUF loaders. Pure data.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { LayerRange } from "../model/shard-spec.ts";
import {
  EMBED_TENSOR_NAME,
  FINAL_NORM_TENSOR_NAME,
  isMatrixKind,
  LM_HEAD_TENSOR_NAME,
  layerTensorName,
  type LayerTensorKind,
} from "../model/weights.ts";
import type { WeightSlot } from "./weight-reads.ts";

export interface Wanted {
  name: string;
  shape: number[];
  /** Where the value goes (a tied LM head of a shard that does not embed reads the table as lmHead). */
  slot: WeightSlot;
}

/** The tensors a shard needs, with their expected shapes. */
export function shardTensorList(config: ModelConfig, range: LayerRange): Wanted[] {
  const { hiddenSize: h, intermediateSize: m, qDim, kvDim, vocabSize } = config;
  const out: Wanted[] = [];
  if (range.embeds) out.push({ name: EMBED_TENSOR_NAME, shape: [vocabSize, h], slot: "embed" });
  const shapes: [LayerTensorKind, number[], boolean][] = [
    ["inputNorm", [h], true],
    ["q", [qDim, h], true],
    ["k", [kvDim, h], true],
    ["v", [kvDim, h], true],
    ["o", [h, qDim], true],
    ["qBias", [qDim], config.qkvBias],
    ["kBias", [kvDim], config.qkvBias],
    ["vBias", [kvDim], config.qkvBias],
    ["oBias", [h], config.oBias],
    ["postNorm", [h], true],
    ["gate", [m, h], true],
    ["up", [m, h], true],
    ["down", [h, m], true],
    ["gateBias", [m], config.mlpBias],
    ["upBias", [m], config.mlpBias],
    ["downBias", [h], config.mlpBias],
  ];
  for (let layer = range.layerStart; layer < range.layerEnd; layer++) {
    for (const [kind, shape, needed] of shapes) {
      if (needed) out.push({ name: layerTensorName(layer, kind), shape, slot: { layer, kind } });
    }
  }
  if (range.tail) {
    out.push({ name: FINAL_NORM_TENSOR_NAME, shape: [h], slot: "finalNorm" });
    if (!config.tieWordEmbeddings) {
      out.push({ name: LM_HEAD_TENSOR_NAME, shape: [vocabSize, h], slot: "lmHead" });
    } else if (!range.embeds) {
      out.push({ name: EMBED_TENSOR_NAME, shape: [vocabSize, h], slot: "lmHead" });
    }
  }
  return out;
}

export function checkRange(config: ModelConfig, range: LayerRange): void {
  const { layerStart, layerEnd } = range;
  if (!Number.isInteger(layerStart) || !Number.isInteger(layerEnd)) {
    throw new EngineError(
      "ERR_BATCH_INVALID",
      `layer range ${layerStart}..${layerEnd} is not integer`,
    );
  }
  if (layerStart < 0 || layerEnd > config.numLayers || layerStart > layerEnd) {
    throw new EngineError(
      "ERR_BATCH_INVALID",
      `layer range [${layerStart}, ${layerEnd}) is outside the model's ${config.numLayers} layers`,
    );
  }
}

export function isMatrixSlot(slot: WeightSlot): boolean {
  if (typeof slot === "object") return isMatrixKind(slot.kind);
  return slot !== "finalNorm";
}
