// ModelConfig from a GGUF header's metadata (architectures llama, which covers Mistral and TinyLlama files,
// and qwen2): the same object a config.json would give, built from `<arch>.*` keys and passed through
// parseModelConfig so validation is shared; then the RoPE inverse frequencies are adjusted for GGUF's
// scaling (linear factor, or Llama 3.1's rope_freqs tensor), in float64. Reads no tensor data itself.

import { type ModelConfig, parseModelConfig } from "../../config.ts";
import { EngineError, isEngineError } from "../../errors.ts";
import {
  type GgufHeader,
  ggufInt,
  ggufNumber,
  ggufString,
  ggufStringArray,
} from "./gguf-header.ts";
import {
  GGUF_LM_HEAD_TENSOR,
  GGUF_ROPE_FREQS_TENSOR,
  ggufLayerTensorName,
} from "./gguf-tensors.ts";

/** general.architecture values this engine runs, with the config.json they stand for. */
const ARCHITECTURES: Readonly<Record<string, { modelType: string; className: string }>> = {
  llama: { modelType: "llama", className: "LlamaForCausalLM" },
  qwen2: { modelType: "qwen2", className: "Qwen2ForCausalLM" },
};

const CODE = "ERR_CONFIG_INVALID";

function invalid(header: GgufHeader, key: string, detail: string): EngineError {
  return new EngineError(CODE, `${header.location}: GGUF metadata ${key} ${detail}`);
}

function unsupported(header: GgufHeader, key: string, detail: string): EngineError {
  return new EngineError(
    "ERR_CONFIG_UNSUPPORTED",
    `${header.location}: GGUF metadata ${key} ${detail}`,
  );
}

function requiredInt(header: GgufHeader, key: string): number {
  const v = ggufInt(header, key, CODE);
  if (v === undefined) throw invalid(header, key, "is required");
  return v;
}

/** A head count: an integer, or a per-layer array whose entries all agree. */
function headCount(header: GgufHeader, key: string): number | undefined {
  const v = header.metadata.get(key);
  if (Array.isArray(v)) {
    const first: unknown = v[0];
    if (v.length === 0 || typeof first !== "number" || v.some((x) => x !== first)) {
      throw unsupported(header, key, "differs between layers (per-layer head counts)");
    }
    return first;
  }
  return ggufInt(header, key, CODE);
}

/** The metadata's token ids that end generation (eos, eot, eom), without repeats. */
export function ggufEosTokenIds(header: GgufHeader): number[] {
  const ids: number[] = [];
  for (const name of ["eos", "eot", "eom"]) {
    const id = ggufInt(header, `tokenizer.ggml.${name}_token_id`, CODE);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

function vocabSize(header: GgufHeader, arch: string): number {
  const key = `${arch}.vocab_size`;
  const given = ggufInt(header, key, CODE);
  if (given !== undefined) return given;
  const tokens = ggufStringArray(header, "tokenizer.ggml.tokens", CODE);
  if (tokens !== undefined) return tokens.length;
  const embd = header.tensors.get("token_embd.weight");
  if (embd?.dims[1] !== undefined) return embd.dims[1];
  throw invalid(header, key, "is absent, and so are tokenizer.ggml.tokens and token_embd.weight");
}

/** The config.json object the metadata stands for (before RoPE scaling). */
function hfConfigJson(header: GgufHeader, arch: string): Record<string, unknown> {
  const { modelType, className } = ARCHITECTURES[arch] ?? { modelType: arch, className: arch };
  const k = (name: string): string => `${arch}.${name}`;
  const heads = headCount(header, k("attention.head_count"));
  if (heads === undefined) throw invalid(header, k("attention.head_count"), "is required");
  const kvHeads = headCount(header, k("attention.head_count_kv")) ?? heads;
  const keyLength = ggufInt(header, k("attention.key_length"), CODE);
  const valueLength = ggufInt(header, k("attention.value_length"), CODE);
  if (valueLength !== undefined && valueLength !== (keyLength ?? valueLength)) {
    throw unsupported(
      header,
      k("attention.value_length"),
      `${valueLength} differs from key_length ${keyLength}`,
    );
  }
  const headDim = keyLength ?? valueLength;
  const hidden = requiredInt(header, k("embedding_length"));
  const nRot = ggufInt(header, k("rope.dimension_count"), CODE);
  const effectiveHeadDim = headDim ?? hidden / heads;
  if (nRot !== undefined && nRot !== effectiveHeadDim) {
    throw unsupported(
      header,
      k("rope.dimension_count"),
      `${nRot} rotates part of a head of ${effectiveHeadDim} (partial rotary is not implemented)`,
    );
  }
  const bos = ggufInt(header, "tokenizer.ggml.bos_token_id", CODE);
  const hasBias = (kind: "qBias" | "gateBias"): boolean =>
    header.tensors.has(ggufLayerTensorName(0, kind));
  const json: Record<string, unknown> = {
    architectures: [className],
    model_type: modelType,
    hidden_size: hidden,
    intermediate_size: requiredInt(header, k("feed_forward_length")),
    num_hidden_layers: requiredInt(header, k("block_count")),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    vocab_size: vocabSize(header, arch),
    rms_norm_eps: ggufNumber(header, k("attention.layer_norm_rms_epsilon"), CODE),
    rope_theta: ggufNumber(header, k("rope.freq_base"), CODE) ?? 10000,
    max_position_embeddings: ggufInt(header, k("context_length"), CODE),
    tie_word_embeddings: !header.tensors.has(GGUF_LM_HEAD_TENSOR),
    hidden_act: "silu",
    bos_token_id: bos,
    eos_token_id: ggufEosTokenIds(header),
  };
  if (headDim !== undefined) json["head_dim"] = headDim;
  if (arch === "llama") {
    json["attention_bias"] = hasBias("qBias");
    json["mlp_bias"] = hasBias("gateBias");
  }
  return json;
}

/** The linear RoPE factor (positions divided by it), 1 when unscaled. */
function linearRopeFactor(header: GgufHeader, arch: string): number {
  const typeKey = `${arch}.rope.scaling.type`;
  const type = ggufString(header, typeKey, CODE);
  const legacy = ggufNumber(header, `${arch}.rope.scale_linear`, CODE);
  if (type === undefined || type === "none") {
    if (legacy === undefined || legacy === 1) return 1;
    if (!(legacy > 0) || !Number.isFinite(legacy)) {
      throw invalid(header, `${arch}.rope.scale_linear`, `must be positive, got ${legacy}`);
    }
    return legacy;
  }
  if (type !== "linear") {
    throw unsupported(
      header,
      typeKey,
      `${JSON.stringify(type)} is not implemented (supported: none, linear)`,
    );
  }
  const factorKey = `${arch}.rope.scaling.factor`;
  const factor = ggufNumber(header, factorKey, CODE) ?? legacy;
  if (factor === undefined || !Number.isFinite(factor) || factor <= 0) {
    throw invalid(header, factorKey, `must be a positive number for linear scaling, got ${factor}`);
  }
  return factor;
}

/**
 * The ModelConfig of a GGUF file. `ropeFreqs` is the `rope_freqs.weight` tensor's values (Llama 3.1
 * frequency factors), required when the file has that tensor: inverse frequency i becomes
 * base^(-2i/n_rot) / ropeFreqs[i] (rope.kind "llama3"). A linear `rope.scaling.type` divides every inverse
 * frequency by its factor (rope.kind stays "default"). `general.file_type` is not consulted (tensor types
 * are per tensor).
 */
export function ggufModelConfig(header: GgufHeader, ropeFreqs?: Float32Array): ModelConfig {
  const arch = ggufString(header, "general.architecture", CODE);
  if (arch === undefined) throw invalid(header, "general.architecture", "is required");
  if (ARCHITECTURES[arch] === undefined) {
    throw unsupported(
      header,
      "general.architecture",
      `${JSON.stringify(arch)} is not supported (supported: ${Object.keys(ARCHITECTURES).join(", ")})`,
    );
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(hfConfigJson(header, arch));
  } catch (e) {
    if (!isEngineError(e) || e.message.includes(header.location)) throw e;
    const detail = e.message.slice(e.code.length + 2);
    throw new EngineError(e.code, `${header.location}: GGUF metadata (as config.json): ${detail}`, {
      cause: e,
    });
  }

  const factor = linearRopeFactor(header, arch);
  const info = header.tensors.get(GGUF_ROPE_FREQS_TENSOR);
  if (info !== undefined && ropeFreqs === undefined) {
    throw new EngineError(
      "ERR_INTERNAL",
      `${header.location} has ${GGUF_ROPE_FREQS_TENSOR}; its values must be passed to ggufModelConfig`,
    );
  }
  if (ropeFreqs === undefined && factor === 1) return config;
  const base = config.rope.invFreq;
  const invFreq = new Float64Array(base.length);
  if (ropeFreqs !== undefined && ropeFreqs.length !== base.length) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${header.location}: ${GGUF_ROPE_FREQS_TENSOR} has ${ropeFreqs.length} values, head_dim ${config.headDim} needs ${base.length}`,
    );
  }
  for (let i = 0; i < base.length; i++) {
    const f = ropeFreqs === undefined ? 1 : (ropeFreqs[i] ?? Number.NaN);
    if (!Number.isFinite(f) || f <= 0) {
      throw invalid(
        header,
        GGUF_ROPE_FREQS_TENSOR,
        `value ${i} is ${f}; frequency factors must be positive`,
      );
    }
    invFreq[i] = (base[i] ?? 0) / f / factor;
  }
  return {
    ...config,
    rope: {
      kind: ropeFreqs === undefined ? "default" : "llama3",
      theta: config.rope.theta,
      invFreq,
    },
  };
}
