// Weights of one shard as the backends consume them (float32, nn.Linear layout [out, in]), plus the table
// that maps Hugging Face tensor names to (layer, kind). Types and pure naming only: reading bytes lives in
// src/loader/, computing lives in the backends.

/** One transformer layer's weights; every matrix is row-major [out, in] as in nn.Linear. */
export interface LayerWeights {
  inputNorm: Float32Array; // [hidden]
  q: Float32Array; // [qDim, hidden]
  k: Float32Array; // [kvDim, hidden]
  v: Float32Array; // [kvDim, hidden]
  o: Float32Array; // [hidden, qDim]
  qBias?: Float32Array | undefined; // [qDim]    (Qwen2, Llama attention_bias)
  kBias?: Float32Array | undefined; // [kvDim]
  vBias?: Float32Array | undefined; // [kvDim]
  oBias?: Float32Array | undefined; // [hidden]  (Llama attention_bias only)
  postNorm: Float32Array; // [hidden]
  gate: Float32Array; // [intermediate, hidden]
  up: Float32Array; // [intermediate, hidden]
  down: Float32Array; // [hidden, intermediate]
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
  embed?: Float32Array | undefined;
  /** layers[0] is layer layerStart. */
  layers: LayerWeights[];
  /** [hidden]; set iff the shard is last. */
  finalNorm?: Float32Array | undefined;
  /** [vocab, hidden]; set iff the shard is last. With tied embeddings this is the embedding table. */
  lmHead?: Float32Array | undefined;
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

/** Total bytes of the float32 arrays a ShardWeights holds (the tied LM head is counted once). */
export function shardWeightBytes(w: ShardWeights): number {
  let bytes = 0;
  const seen = new Set<Float32Array>();
  const add = (a: Float32Array | undefined): void => {
    if (a === undefined || seen.has(a)) return;
    seen.add(a);
    bytes += a.byteLength;
  };
  add(w.embed);
  for (const l of w.layers) for (const a of Object.values(l)) add(a as Float32Array | undefined);
  add(w.finalNorm);
  add(w.lmHead);
  return bytes;
}
