// parseModelConfig on the config.json of every supported family (values as published on the Hugging Face
// hub), derived fields, RoPE inverse frequencies (default and llama3), and coded errors naming the field.

import { describe, expect, it } from "vitest";
import { parseModelConfig, type ModelConfig } from "../../src/config.ts";
import { EngineError } from "../../src/errors.ts";

const LLAMA2_7B = {
  architectures: ["LlamaForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 11008,
  max_position_embeddings: 4096,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: "float16",
  vocab_size: 32000,
};

const LLAMA31_8B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};

const LLAMA32_1B = {
  ...LLAMA31_8B,
  head_dim: 64,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  rope_scaling: { ...LLAMA31_8B.rope_scaling, factor: 32.0 },
  tie_word_embeddings: true,
};

const TINYLLAMA = {
  architectures: ["LlamaForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 2048,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32000,
};

const SMOLLM2_135M = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 576,
  intermediate_size: 1536,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 49152,
};

const MISTRAL_7B_V03 = {
  architectures: ["MistralForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: "mistral",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32768,
};

const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"],
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_sliding_window: false,
  vocab_size: 151936,
};

function codeOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof EngineError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected an EngineError");
}

describe("parseModelConfig: supported families", () => {
  it.each<[string, unknown, Partial<ModelConfig>]>([
    [
      "Llama 2 7B",
      LLAMA2_7B,
      {
        family: "llama",
        headDim: 128,
        qDim: 4096,
        kvDim: 4096,
        group: 1,
        numLayers: 32,
        maxPositions: 4096,
      },
    ],
    [
      "Llama 3.1 8B",
      LLAMA31_8B,
      {
        headDim: 128,
        kvDim: 1024,
        group: 4,
        vocabSize: 128256,
        eosTokenIds: [128001, 128008, 128009],
      },
    ],
    [
      "Llama 3.2 1B (explicit head_dim, tied)",
      LLAMA32_1B,
      { headDim: 64, qDim: 2048, tieWordEmbeddings: true },
    ],
    ["TinyLlama 1.1B", TINYLLAMA, { headDim: 64, kvDim: 256, group: 8, intermediateSize: 5632 }],
    [
      "SmolLM2 135M (9 heads, GQA 3)",
      SMOLLM2_135M,
      { headDim: 64, numHeads: 9, numKvHeads: 3, group: 3, tieWordEmbeddings: true, bosTokenId: 1 },
    ],
    [
      "Mistral 7B v0.3 (no sliding window)",
      MISTRAL_7B_V03,
      {
        family: "mistral",
        architecture: "MistralForCausalLM",
        group: 4,
        maxPositions: 32768,
        qkvBias: false,
      },
    ],
    [
      "Qwen2.5 0.5B (q/k/v biases)",
      QWEN25_05B,
      {
        family: "qwen2",
        headDim: 64,
        group: 7,
        qkvBias: true,
        oBias: false,
        mlpBias: false,
        rmsNormEps: 1e-6,
      },
    ],
  ])("%s", (_name, json, expected) => {
    expect(parseModelConfig(json)).toMatchObject(expected);
  });

  it("computes default RoPE inverse frequencies theta^(-2i/d) in float64", () => {
    const c = parseModelConfig(TINYLLAMA);
    expect(c.rope.kind).toBe("default");
    expect(c.rope.invFreq).toBeInstanceOf(Float64Array);
    expect(c.rope.invFreq).toHaveLength(32);
    expect(c.rope.invFreq[0]).toBe(1);
    expect(c.rope.invFreq[1]).toBe(1 / Math.pow(10000, 2 / 64));
    expect(c.rope.invFreq[31]).toBe(1 / Math.pow(10000, 62 / 64));
  });

  it("applies Llama 3.1 scaling: high frequencies kept, low ones divided by factor, smooth between", () => {
    const scaled = parseModelConfig(LLAMA31_8B);
    const plain = parseModelConfig({ ...LLAMA31_8B, rope_scaling: null });
    expect(scaled.rope.kind).toBe("llama3");
    const old = 8192;
    let kept = 0;
    let divided = 0;
    let smoothed = 0;
    for (let i = 0; i < 64; i++) {
      const f = plain.rope.invFreq[i]!;
      const g = scaled.rope.invFreq[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < old / 4) {
        expect(g).toBe(f);
        kept++;
      } else if (wavelen > old / 1) {
        expect(g).toBe(f / 8);
        divided++;
      } else {
        expect(g).toBeLessThan(f);
        expect(g).toBeGreaterThan(f / 8);
        smoothed++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(smoothed).toBeGreaterThan(0);
  });

  it("reads transformers 5's nested rope_parameters", () => {
    const { rope_scaling: _s, rope_theta: _t, ...rest } = LLAMA31_8B;
    const c = parseModelConfig({
      ...rest,
      rope_parameters: { ...LLAMA31_8B.rope_scaling, rope_theta: 500000 },
    });
    expect(c.rope.kind).toBe("llama3");
    expect(c.rope.invFreq).toEqual(parseModelConfig(LLAMA31_8B).rope.invFreq);
    const d = parseModelConfig({
      ...TINYLLAMA,
      rope_theta: undefined,
      rope_parameters: { rope_type: "default", rope_theta: 5000 },
    });
    expect(d.rope.theta).toBe(5000);
  });

  it("caps the context at a configured sliding window (exact below it)", () => {
    expect(parseModelConfig({ ...MISTRAL_7B_V03, sliding_window: 4096 }).maxPositions).toBe(4096);
    expect(parseModelConfig(QWEN25_05B).maxPositions).toBe(32768);
    expect(
      parseModelConfig({ ...QWEN25_05B, use_sliding_window: true, sliding_window: 1024 })
        .maxPositions,
    ).toBe(1024);
  });

  it("reads Llama attention_bias and mlp_bias", () => {
    const c = parseModelConfig({ ...TINYLLAMA, attention_bias: true, mlp_bias: true });
    expect(c).toMatchObject({ qkvBias: true, oBias: true, mlpBias: true });
  });

  it("takes eos as an int or a list, and head_dim that is neither hidden/heads nor a power of two", () => {
    expect(parseModelConfig({ ...TINYLLAMA, eos_token_id: 7 }).eosTokenIds).toEqual([7]);
    const c = parseModelConfig({
      ...TINYLLAMA,
      head_dim: 20,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      hidden_size: 48,
    });
    expect(c).toMatchObject({ headDim: 20, qDim: 120, kvDim: 40, group: 3 });
  });
});

describe("parseModelConfig: coded errors naming the field", () => {
  it.each<[string, unknown, string, RegExp]>([
    [
      "unknown architecture",
      { ...LLAMA2_7B, architectures: ["GPT2LMHeadModel"] },
      "ERR_CONFIG_UNSUPPORTED",
      /"architectures".*GPT2LMHeadModel/,
    ],
    [
      "unknown model_type",
      { ...LLAMA2_7B, architectures: undefined, model_type: "gemma" },
      "ERR_CONFIG_UNSUPPORTED",
      /"model_type".*gemma/,
    ],
    [
      "yarn rope scaling",
      { ...LLAMA2_7B, rope_scaling: { type: "yarn", factor: 4 } },
      "ERR_CONFIG_UNSUPPORTED",
      /"rope_scaling.rope_type".*yarn/,
    ],
    [
      "linear rope scaling",
      { ...LLAMA2_7B, rope_scaling: { rope_type: "linear", factor: 2 } },
      "ERR_CONFIG_UNSUPPORTED",
      /"rope_scaling.rope_type".*linear/,
    ],
    [
      "gelu activation",
      { ...LLAMA2_7B, hidden_act: "gelu" },
      "ERR_CONFIG_UNSUPPORTED",
      /"hidden_act".*gelu/,
    ],
    [
      "partial rotary",
      { ...LLAMA2_7B, partial_rotary_factor: 0.5 },
      "ERR_CONFIG_UNSUPPORTED",
      /"partial_rotary_factor"/,
    ],
    [
      "quantized",
      { ...LLAMA2_7B, quantization_config: { quant_method: "gptq" } },
      "ERR_CONFIG_UNSUPPORTED",
      /"quantization_config"/,
    ],
    ["odd head_dim", { ...LLAMA2_7B, head_dim: 7 }, "ERR_CONFIG_UNSUPPORTED", /"head_dim"/],
    [
      "kv heads not dividing heads",
      { ...LLAMA2_7B, num_key_value_heads: 5 },
      "ERR_CONFIG_INVALID",
      /"num_key_value_heads"/,
    ],
    [
      "missing hidden_size",
      { ...LLAMA2_7B, hidden_size: undefined },
      "ERR_CONFIG_INVALID",
      /"hidden_size".*required/,
    ],
    [
      "fractional layers",
      { ...LLAMA2_7B, num_hidden_layers: 2.5 },
      "ERR_CONFIG_INVALID",
      /"num_hidden_layers"/,
    ],
    [
      "llama3 without factor",
      { ...LLAMA31_8B, rope_scaling: { ...LLAMA31_8B.rope_scaling, factor: undefined } },
      "ERR_CONFIG_INVALID",
      /"rope_scaling.factor"/,
    ],
    [
      "architecture vs model_type",
      { ...LLAMA2_7B, model_type: "qwen2" },
      "ERR_CONFIG_INVALID",
      /"architectures"/,
    ],
    ["bad eos", { ...LLAMA2_7B, eos_token_id: "x" }, "ERR_CONFIG_INVALID", /"eos_token_id"/],
    ["not an object", [1, 2], "ERR_CONFIG_INVALID", /not a JSON object/],
  ])("%s", (_name, json, code, message) => {
    const e = codeOf(() => parseModelConfig(json));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });
});
