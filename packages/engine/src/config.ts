// ModelConfig: a Hugging Face `config.json` of the Llama family (Llama 2/3, TinyLlama, SmolLM2, Mistral,
// Qwen2) parsed, validated and completed with its derived fields (headDim, qDim, kvDim, group, RoPE inverse
// frequencies), computed here once. Anything we do not implement is a coded error naming the field.
// Not a registry of known models and not a loader: it only reads the JSON it is given.

import { EngineError } from "./errors.ts";

export type ModelFamily = "llama" | "mistral" | "qwen2";

export interface RopeConfig {
  kind: "default" | "llama3";
  theta: number;
  /** [rotaryDim / 2] inverse frequencies in float64; both backends build cos/sin from these (ropeTables). */
  invFreq: Float64Array;
  /** llama3 scaling parameters, as given in `rope_scaling`. */
  llama3?: {
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };
}

export interface ModelConfig {
  family: ModelFamily;
  /** `architectures[0]` (or the family's class name when absent). */
  architecture: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head dimension; `head_dim` when given (it need not be hiddenSize / numHeads). */
  headDim: number;
  /** numHeads * headDim: rows of q_proj. */
  qDim: number;
  /** numKvHeads * headDim: rows of k_proj and v_proj. */
  kvDim: number;
  /** numHeads / numKvHeads: query heads per KV head (GQA). */
  group: number;
  vocabSize: number;
  rmsNormEps: number;
  rope: RopeConfig;
  tieWordEmbeddings: boolean;
  /** Biases on q_proj, k_proj, v_proj (Qwen2; Llama attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama attention_bias). */
  oBias: boolean;
  /** Biases on gate/up/down (Llama mlp_bias). */
  mlpBias: boolean;
  bosTokenId: number | undefined;
  eosTokenIds: readonly number[];
  /**
   * Longest context this engine runs exactly: max_position_embeddings, capped at the sliding window when
   * one is configured (below the window, sliding-window attention equals full attention).
   */
  maxPositions: number;
  /** `torch_dtype` / `dtype` as declared (informative; weights are converted to f32 at load). */
  declaredDtype: string | undefined;
}

const FAMILY_BY_MODEL_TYPE: Readonly<Record<string, ModelFamily>> = {
  llama: "llama",
  mistral: "mistral",
  qwen2: "qwen2",
};

const FAMILY_BY_ARCHITECTURE: Readonly<Record<string, ModelFamily>> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
};

const DEFAULT_MAX_POSITIONS: Readonly<Record<ModelFamily, number>> = {
  llama: 2048,
  mistral: 4096 * 32,
  qwen2: 32768,
};

type Json = Record<string, unknown>;

function unsupported(field: string, detail: string): EngineError {
  return new EngineError("ERR_CONFIG_UNSUPPORTED", `config.json field "${field}": ${detail}`);
}

function invalid(field: string, detail: string): EngineError {
  return new EngineError("ERR_CONFIG_INVALID", `config.json field "${field}": ${detail}`);
}

function posInt(j: Json, field: string, fallback?: number): number {
  const v = j[field] ?? fallback;
  if (v === undefined || v === null) throw invalid(field, "is required");
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw invalid(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function posNumber(j: Json, field: string, fallback: number): number {
  const v = j[field] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw invalid(field, `must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(j: Json, field: string, fallback: boolean): boolean {
  const v = j[field] ?? fallback;
  if (typeof v !== "boolean") throw invalid(field, `must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function tokenIds(j: Json, field: string): number[] {
  const v = j[field];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  return list.map((id) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw invalid(field, `must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return id;
  });
}

function detectFamily(j: Json): { family: ModelFamily; architecture: string } {
  const archs = j["architectures"];
  let archFamily: ModelFamily | undefined;
  let architecture: string | undefined;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== "string") {
      throw invalid("architectures", "must be a non-empty list of class names");
    }
    architecture = archs[0];
    archFamily = FAMILY_BY_ARCHITECTURE[architecture];
    if (archFamily === undefined) {
      throw unsupported(
        "architectures",
        `${architecture} is not supported (supported: ${Object.keys(FAMILY_BY_ARCHITECTURE).join(", ")})`,
      );
    }
  }
  const modelType = j["model_type"];
  let typeFamily: ModelFamily | undefined;
  if (modelType !== undefined && modelType !== null) {
    if (typeof modelType !== "string") throw invalid("model_type", "must be a string");
    typeFamily = FAMILY_BY_MODEL_TYPE[modelType];
    if (typeFamily === undefined) {
      throw unsupported(
        "model_type",
        `"${modelType}" is not supported (supported: ${Object.keys(FAMILY_BY_MODEL_TYPE).join(", ")})`,
      );
    }
  }
  const family = typeFamily ?? archFamily;
  if (family === undefined)
    throw invalid("model_type", "neither model_type nor architectures is set");
  if (archFamily !== undefined && typeFamily !== undefined && archFamily !== typeFamily) {
    throw invalid(
      "architectures",
      `${architecture} does not match model_type "${String(modelType)}"`,
    );
  }
  const className = Object.entries(FAMILY_BY_ARCHITECTURE).find(([, f]) => f === family)?.[0];
  return { family, architecture: architecture ?? className ?? family };
}

/** Default RoPE inverse frequencies: theta^(-2i/dim), i = 0 .. dim/2 - 1, in float64. */
function defaultInvFreq(theta: number, dim: number): Float64Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / dim);
  return inv;
}

/** Llama 3.1 frequency scaling (transformers `_compute_llama3_parameters`), in float64. */
function llama3InvFreq(base: Float64Array, p: NonNullable<RopeConfig["llama3"]>): Float64Array {
  const lowWavelen = p.originalMaxPositionEmbeddings / p.lowFreqFactor;
  const highWavelen = p.originalMaxPositionEmbeddings / p.highFreqFactor;
  const out = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const f = base[i] ?? 0;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) out[i] = f;
    else if (wavelen > lowWavelen) out[i] = f / p.factor;
    else {
      const smooth =
        (p.originalMaxPositionEmbeddings / wavelen - p.lowFreqFactor) /
        (p.highFreqFactor - p.lowFreqFactor);
      out[i] = (1 - smooth) * (f / p.factor) + smooth * f;
    }
  }
  return out;
}

function parseRope(j: Json, headDim: number): RopeConfig {
  // transformers >= 4.57 may nest theta and scaling in `rope_parameters`; older configs use the top level.
  const params = j["rope_parameters"];
  const nested = params !== null && typeof params === "object" ? (params as Json) : undefined;
  const theta = posNumber(
    nested ?? j,
    "rope_theta",
    (j["rope_theta"] as number | undefined) ?? 10000,
  );
  const partial = j["partial_rotary_factor"] ?? nested?.["partial_rotary_factor"];
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw unsupported(
      "partial_rotary_factor",
      `${JSON.stringify(partial)} (only 1 is implemented)`,
    );
  }
  const base = defaultInvFreq(theta, headDim);
  const scaling = j["rope_scaling"] ?? nested;
  if (scaling === undefined || scaling === null) return { kind: "default", theta, invFreq: base };
  if (typeof scaling !== "object") throw invalid("rope_scaling", "must be an object or null");
  const s = scaling as Json;
  const kind = s["rope_type"] ?? s["type"] ?? "default";
  if (kind === "default") return { kind: "default", theta, invFreq: base };
  if (kind !== "llama3") {
    throw unsupported(
      "rope_scaling.rope_type",
      `${JSON.stringify(kind)} is not implemented (supported: default, llama3)`,
    );
  }
  const field = (name: string): number => {
    // transformers falls back to max_position_embeddings for the original context.
    const v =
      name === "original_max_position_embeddings"
        ? (s[name] ?? j["max_position_embeddings"])
        : s[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw invalid(`rope_scaling.${name}`, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const llama3 = {
    factor: field("factor"),
    lowFreqFactor: field("low_freq_factor"),
    highFreqFactor: field("high_freq_factor"),
    originalMaxPositionEmbeddings: field("original_max_position_embeddings"),
  };
  if (llama3.highFreqFactor <= llama3.lowFreqFactor) {
    throw invalid("rope_scaling.high_freq_factor", "must be greater than low_freq_factor");
  }
  const attnFactor = s["attention_factor"];
  if (attnFactor !== undefined && attnFactor !== null && attnFactor !== 1) {
    throw unsupported("rope_scaling.attention_factor", `${JSON.stringify(attnFactor)} (only 1)`);
  }
  return { kind: "llama3", theta, invFreq: llama3InvFreq(base, llama3), llama3 };
}

function parseSlidingWindow(j: Json, family: ModelFamily): number | undefined {
  if (family === "llama") return undefined;
  if (family === "qwen2" && j["use_sliding_window"] !== true) return undefined;
  const w = j["sliding_window"];
  if (w === undefined || w === null) return undefined;
  if (typeof w !== "number" || !Number.isInteger(w) || w <= 0) {
    throw invalid("sliding_window", `must be a positive integer or null, got ${JSON.stringify(w)}`);
  }
  return w;
}

/** Parses and validates a Llama-family config.json (the parsed JSON object). */
export function parseModelConfig(json: unknown): ModelConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new EngineError("ERR_CONFIG_INVALID", "config.json is not a JSON object");
  }
  const j = json as Json;
  const { family, architecture } = detectFamily(j);

  const act = j["hidden_act"] ?? j["hidden_activation"] ?? "silu";
  if (act !== "silu")
    throw unsupported("hidden_act", `${JSON.stringify(act)} (only silu is implemented)`);
  if (j["quantization_config"] !== undefined && j["quantization_config"] !== null) {
    throw unsupported("quantization_config", "quantized checkpoints are not implemented");
  }

  const hiddenSize = posInt(j, "hidden_size");
  const intermediateSize = posInt(j, "intermediate_size");
  const numLayers = posInt(j, "num_hidden_layers");
  const numHeads = posInt(j, "num_attention_heads");
  const numKvHeads = posInt(j, "num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw invalid(
      "num_key_value_heads",
      `${numKvHeads} does not divide num_attention_heads ${numHeads}`,
    );
  }
  const headDimGiven = j["head_dim"];
  let headDim: number;
  if (headDimGiven === undefined || headDimGiven === null) {
    if (hiddenSize % numHeads !== 0) {
      throw invalid(
        "head_dim",
        `absent, and hidden_size ${hiddenSize} is not a multiple of ${numHeads}`,
      );
    }
    headDim = hiddenSize / numHeads;
  } else {
    headDim = posInt(j, "head_dim");
  }
  if (headDim % 2 !== 0) throw unsupported("head_dim", `${headDim} is odd (RoPE needs pairs)`);
  const vocabSize = posInt(j, "vocab_size");
  const rmsNormEps = posNumber(j, "rms_norm_eps", 1e-6);
  const rope = parseRope(j, headDim);

  const attentionBias = family === "llama" ? bool(j, "attention_bias", false) : false;
  const mlpBias = family === "llama" ? bool(j, "mlp_bias", false) : false;
  const qkvBias = family === "qwen2" || attentionBias;

  const maxPos = posInt(j, "max_position_embeddings", DEFAULT_MAX_POSITIONS[family]);
  const window = parseSlidingWindow(j, family);
  const eosTokenIds = tokenIds(j, "eos_token_id");
  const bos = tokenIds(j, "bos_token_id");
  const dtype = j["torch_dtype"] ?? j["dtype"];

  return {
    family,
    architecture,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    qDim: numHeads * headDim,
    kvDim: numKvHeads * headDim,
    group: numHeads / numKvHeads,
    vocabSize,
    rmsNormEps,
    rope,
    tieWordEmbeddings: bool(j, "tie_word_embeddings", false),
    qkvBias,
    oBias: attentionBias,
    mlpBias,
    bosTokenId: bos[0],
    eosTokenIds,
    maxPositions: window === undefined ? maxPos : Math.min(maxPos, window),
    declaredDtype: typeof dtype === "string" ? dtype : undefined,
  };
}
