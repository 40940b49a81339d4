// A Llama-shaped model with seeded random weights, built in memory, for benchmarks (decode tokens/s) and
// for WebGPU shard tests that need shapes no fixture has. Browser-safe. Not a golden: outputs are
// meaningless, only shapes, timings and bitwise comparisons between runs matter.

import { parseModelConfig, type ModelConfig } from "../../src/config.ts";
import type { LayerWeights, ShardWeights } from "../../src/model/weights.ts";
import { f32Matrix, type PackedMatrix, type TensorType } from "../../src/quant/tensor-type.ts";
import { randomPackedMatrix } from "./random-packed.ts";
import { Rng } from "./random.ts";

export interface RandomModelShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  /** head_dim when it is not hidden / heads. */
  headDim?: number;
}

/** ~25M parameters: the size class of a small draft model. */
export const BENCH_MODEL: RandomModelShape = {
  hidden: 512,
  layers: 8,
  heads: 8,
  kvHeads: 4,
  intermediate: 1408,
  vocab: 8192,
};

/**
 * A random model whose matrices are stored as `type` (f32 by default; quantized types get valid random
 * blocks, so k must be a whole number of the type's blocks).
 */
export function randomModel(
  shape: RandomModelShape,
  seed = 7,
  type: TensorType = "f32",
): { config: ModelConfig; weights: ShardWeights } {
  const config = parseModelConfig({
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    vocab_size: shape.vocab,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    ...(shape.headDim === undefined ? {} : { head_dim: shape.headDim }),
  });
  const rng = new Rng(seed);
  const { hiddenSize: h, intermediateSize: m, qDim, kvDim } = config;
  const mat = (n: number, k: number): PackedMatrix =>
    type === "f32"
      ? f32Matrix(rng.floats(n * k, 1 / Math.sqrt(k)), n, k)
      : randomPackedMatrix(type, n, k, () => rng.next());
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const layers: LayerWeights[] = Array.from({ length: config.numLayers }, () => ({
    inputNorm: ones(h),
    q: mat(qDim, h),
    k: mat(kvDim, h),
    v: mat(kvDim, h),
    o: mat(h, qDim),
    postNorm: ones(h),
    gate: mat(m, h),
    up: mat(m, h),
    down: mat(h, m),
  }));
  const embed = mat(config.vocabSize, h);
  return {
    config,
    weights: {
      layerStart: 0,
      layerEnd: config.numLayers,
      embed,
      layers,
      finalNorm: ones(h),
      lmHead: embed,
    },
  };
}
