// Weights of one shard as the backends consume them: matrices in their stored format (PackedMatrix: f32,
// f16, bf16 or quantized blocks, nn.Linear layout [out, in]), norms and biases as float32; plus the table
// that maps Hugging Face tensor names to (layer, kind). Types and pure naming only: reading bytes lives in
// src/loader/, computing lives in the backends.

import type { PackedMatrix } from "../quant/tensor-type.ts";

/** One transformer layer's weights; every matrix is row-major [out, in] as in nn.Linear. */
export interface LayerWeights {
  inputNorm: Float32Array; // [hidden]
  q: PackedMatrix; // [qDim, hidden]
  k: PackedMatrix; // [kvDim, hidden]
  v: PackedMatrix; // [kvDim, hidden]
  o: PackedMatrix; // [hidden, qDim]
  qBias?: Float32Array | undefined; // [qDim]    (Qwen2, Llama attention_bias)
  kBias?: Float32Array | undefined; // [kvDim]
  vBias?: Float32Array | undefined; // [kvDim]
  oBias?: Float32Array | undefined; // [hidden]  (Llama attention_bias only)
  postNorm: Float32Array; // [hidden]
  gate: PackedMatrix; // [intermediate, hidden]
  up: PackedMatrix; // [intermediate, hidden]
  down: PackedMatrix; // [hidden, intermediate]
  gateBias?: Float32Array | undefined; // [intermediate]  (Llama mlp_bias)
  upBias?: Float32Array | undefined; // [intermediate]
  downBias?: Float32Array | undefined; // [hidden]
}

/** The weights one shard holds: layers [layerStart, layerEnd), embeddings if first, norm + head if last. */
export interface ShardWeights {
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
  /** [vocab, hidden]; set iff the shard embeds. */
  embed?: PackedMatrix | undefined;
  /** layers[0] is layer layerStart. */
  layers: LayerWeights[];
  /** [hidden]; set iff the shard is last. */
  finalNorm?: Float32Array | undefined;
  /** [vocab, hidden]; set iff the shard is last. With tied embeddings this is the embedding table. */
  lmHead?: PackedMatrix | undefined;
}

export type LayerTensorKind = Exclude<keyof LayerWeights, never>;

/** Hugging Face name suffix (after `model.layers.{i}.`) of each per-layer tensor. */
export const LAYER_TENSOR_NAMES: Readonly<Record<LayerTensorKind, string>> = {
  inputNorm: "input_layernorm.weight",
  q: "self_attn.q_proj.weight",
  k: "self_attn.k_proj.weight",
  v: "self_attn.v_proj.weight",
  o: "self_attn.o_proj.weight",
  qBias: "self_attn.q_proj.bias",
  kBias: "self_attn.k_proj.bias",
  vBias: "self_attn.v_proj.bias",
  oBias: "self_attn.o_proj.bias",
  postNorm: "post_attention_layernorm.weight",
  gate: "mlp.gate_proj.weight",
  up: "mlp.up_proj.weight",
  down: "mlp.down_proj.weight",
  gateBias: "mlp.gate_proj.bias",
  upBias: "mlp.up_proj.bias",
  downBias: "mlp.down_proj.bias",
};

export const EMBED_TENSOR_NAME = "model.embed_tokens.weight";
export const FINAL_NORM_TENSOR_NAME = "model.norm.weight";
export const LM_HEAD_TENSOR_NAME = "lm_head.weight";

export function layerTensorName(layer: number, kind: LayerTensorKind): string {
  return `model.layers.${layer}.${LAYER_TENSOR_NAMES[kind]}`;
}

/** The matrix kinds of a layer (stored as PackedMatrix); the other kinds are float32 vectors. */
export const LAYER_MATRIX_KINDS = ["q", "k", "v", "o", "gate", "up", "down"] as const;
export type LayerMatrixKind = (typeof LAYER_MATRIX_KINDS)[number];

export function isMatrixKind(kind: LayerTensorKind): kind is LayerMatrixKind {
  return (LAYER_MATRIX_KINDS as readonly string[]).includes(kind);
}

/**
 * Bytes a ShardWeights holds in host memory: matrices as stored, vectors as float32 (a tied LM head is
 * counted once). `withEmbed: false` leaves out an embedding table that the LM head does not share.
 */
export function shardWeightBytes(w: ShardWeights, withEmbed = true): number {
  let bytes = 0;
  const seen = new Set<unknown>();
  const add = (a: Float32Array | PackedMatrix | undefined): void => {
    if (a === undefined || seen.has(a)) return;
    seen.add(a);
    bytes += a instanceof Float32Array ? a.byteLength : a.data.byteLength;
  };
  if (withEmbed) add(w.embed);
  for (const l of w.layers) {
    for (const a of Object.values(l)) add(a as Float32Array | PackedMatrix | undefined);
  }
  add(w.finalNorm);
  add(w.lmHead);
  return bytes;
}
