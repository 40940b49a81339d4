// GGUF tensor names of the engine's weight slots (token_embd, blk.N.attn_q, ..., output, rope_freqs), the
// dims each must have for a ModelConfig (ne0 first), and the undoing of llama.cpp's Q/K row permutation
// for arch llama by moving whole stored rows (no dequantization). Not a loader: no bytes are read here.

import type { ModelConfig } from "../../config.ts";
import { EngineError } from "../../errors.ts";
import type { LayerTensorKind } from "../../model/weights.ts";
import { type PackedMatrix, rowBytes } from "../../quant/tensor-type.ts";
import type { GgufTensorInfo } from "./gguf-header.ts";

/** GGUF name suffix (after `blk.N.`) of each per-layer tensor. */
export const GGUF_LAYER_TENSOR_NAMES: Readonly<Record<LayerTensorKind, string>> = {
  inputNorm: "attn_norm.weight",
  q: "attn_q.weight",
  k: "attn_k.weight",
  v: "attn_v.weight",
  o: "attn_output.weight",
  qBias: "attn_q.bias",
  kBias: "attn_k.bias",
  vBias: "attn_v.bias",
  oBias: "attn_output.bias",
  postNorm: "ffn_norm.weight",
  gate: "ffn_gate.weight",
  up: "ffn_up.weight",
  down: "ffn_down.weight",
  gateBias: "ffn_gate.bias",
  upBias: "ffn_up.bias",
  downBias: "ffn_down.bias",
};

export const GGUF_EMBED_TENSOR = "token_embd.weight";
export const GGUF_FINAL_NORM_TENSOR = "output_norm.weight";
export const GGUF_LM_HEAD_TENSOR = "output.weight";
export const GGUF_ROPE_FREQS_TENSOR = "rope_freqs.weight";

/** A weight slot of the engine. `lmHead` is `output.weight`; a tied head reads `embed` instead. */
export type GgufSlot =
  { layer: number; kind: LayerTensorKind } | "embed" | "finalNorm" | "lmHead" | "ropeFreqs";

export function ggufLayerTensorName(layer: number, kind: LayerTensorKind): string {
  return `blk.${layer}.${GGUF_LAYER_TENSOR_NAMES[kind]}`;
}

export function ggufTensorName(slot: GgufSlot): string {
  if (typeof slot === "object") return ggufLayerTensorName(slot.layer, slot.kind);
  switch (slot) {
    case "embed":
      return GGUF_EMBED_TENSOR;
    case "finalNorm":
      return GGUF_FINAL_NORM_TENSOR;
    case "lmHead":
      return GGUF_LM_HEAD_TENSOR;
    case "ropeFreqs":
      return GGUF_ROPE_FREQS_TENSOR;
  }
}

/** The dims (ne0 first, i.e. [in, out] for a matrix) the config implies for a slot. */
export function ggufExpectedDims(config: ModelConfig, slot: GgufSlot): number[] {
  const { hiddenSize: h, intermediateSize: m, qDim, kvDim, vocabSize } = config;
  if (slot === "embed" || slot === "lmHead") return [h, vocabSize];
  if (slot === "finalNorm") return [h];
  if (slot === "ropeFreqs") return [config.rope.invFreq.length];
  const dims: Readonly<Record<LayerTensorKind, number[]>> = {
    inputNorm: [h],
    q: [h, qDim],
    k: [h, kvDim],
    v: [h, kvDim],
    o: [qDim, h],
    qBias: [qDim],
    kBias: [kvDim],
    vBias: [kvDim],
    oBias: [h],
    postNorm: [h],
    gate: [h, m],
    up: [h, m],
    down: [m, h],
    gateBias: [m],
    upBias: [m],
    downBias: [h],
  };
  return dims[slot.kind];
}

/** ERR_WEIGHTS_SHAPE when a tensor's dims disagree with the hyper-parameters. */
export function checkGgufTensorDims(
  location: string,
  info: GgufTensorInfo,
  config: ModelConfig,
  slot: GgufSlot,
): void {
  const want = ggufExpectedDims(config, slot);
  if (info.dims.length !== want.length || info.dims.some((d, i) => d !== want[i])) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${location}: tensor ${info.name} has dims [${info.dims.join(", ")}], the hyper-parameters imply [${want.join(", ")}]`,
    );
  }
}

function headDimOf(rows: number, heads: number, what: string): number {
  if (!Number.isInteger(heads) || heads <= 0 || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${what}: ${rows} rows are not ${heads} heads of an even size`,
    );
  }
  return rows / heads;
}

/**
 * Moves whole rows: within each head of d rows, output row `dst(h, i)` takes input row `src(h, i)` for
 * h in {0, 1}, i < d/2. unpermute: dst = h*d/2 + i, src = 2i + h; permute is the reverse.
 */
function moveRows(
  src: Uint8Array,
  rows: number,
  rowLen: number,
  heads: number,
  unpermute: boolean,
): Uint8Array {
  const d = rows / heads;
  const half = d / 2;
  const out = new Uint8Array(src.length);
  for (let head = 0; head < heads; head++) {
    const base = head * d;
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < half; i++) {
        const hf = base + h * half + i;
        const gg = base + 2 * i + h;
        const [from, to] = unpermute ? [gg, hf] : [hf, gg];
        out.set(src.subarray(from * rowLen, (from + 1) * rowLen), to * rowLen);
      }
    }
  }
  return out;
}

function moveMatrix(m: PackedMatrix, heads: number, unpermute: boolean): PackedMatrix {
  headDimOf(m.rows, heads, "Q/K matrix");
  const rb = rowBytes(m.type, m.cols);
  if (m.data.byteLength !== rb * m.rows) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `Q/K matrix: ${m.data.byteLength} bytes, [${m.rows}, ${m.cols}] needs ${rb * m.rows}`,
    );
  }
  return { ...m, data: moveRows(m.data, m.rows, rb, heads, unpermute) };
}

/**
 * Undoes llama.cpp's Q/K permutation (arch llama): within each head of size d, GGUF row 2i+h holds Hugging
 * Face row h*d/2 + i. Whole stored rows move, so any type works without dequantization. Use numHeads for
 * Q and numKvHeads for K. Returns a new matrix; qwen2 files are not permuted and need no call.
 */
export function unpermuteQkRows(m: PackedMatrix, heads: number): PackedMatrix {
  return moveMatrix(m, heads, true);
}

/** The converter's direction (Hugging Face rows to GGUF rows), the inverse of unpermuteQkRows. */
export function permuteQkRows(m: PackedMatrix, heads: number): PackedMatrix {
  return moveMatrix(m, heads, false);
}

function moveVector(values: Float32Array, heads: number, unpermute: boolean): Float32Array {
  headDimOf(values.length, heads, "Q/K bias");
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = moveRows(bytes, values.length, 4, heads, unpermute);
  return new Float32Array(out.buffer);
}

/** unpermuteQkRows for a bias vector (Llama attention_bias). */
export function unpermuteQkBias(values: Float32Array, heads: number): Float32Array {
  return moveVector(values, heads, true);
}

/** The inverse of unpermuteQkBias. */
export function permuteQkBias(values: Float32Array, heads: number): Float32Array {
  return moveVector(values, heads, false);
}
