// Uploads a shard's weights to the GPU in their stored format: f32 matrices as float rows at the matmul's
// row stride (k rounded up to 4, zero padded), every other type (f16, bf16, quant blocks) as its raw bytes
// in a u32 buffer that the packed matmul kernels dequantize in registers. q|k|v and gate|up are fused into
// one output ([qDim + 2 kvDim] and [2 intermediate] columns): consecutive pieces of one type share a part,
// pieces of different types (a Q4_K_M file's Q6_K attn_v) get their own part, and any part larger than one
// storage binding is split by output rows; every part fills its own columns of the one output. Layers can
// be uploaded one at a time as they load (GpuWeightUploader), so host memory holds at most one layer. The
// embedding table stays on the host (the first shard gathers and dequantizes rows there). Not the forward
// pass (see forward-plan.ts).

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import { uploadStorage } from "../gpu/buffers.ts";
import type { GpuContext } from "../gpu/device.ts";
import { matmulRowStride, padRows } from "../kernels/matmul.ts";
import { packedWeightBytes } from "../kernels/matmul-packed.ts";
import { f32Values } from "../model/packed-linear.ts";
import type { LayerWeights } from "../model/weights.ts";
import { rowBytes, type PackedMatrix, type TensorType } from "../quant/tensor-type.ts";

export interface GpuMatrixPart {
  type: TensorType;
  buffer: GPUBuffer;
  bias: GPUBuffer | undefined;
  /** Output rows [n0, n0 + n) of the matrix (and of its bias). */
  n0: number;
  n: number;
}

/** A row-major [n, k] matrix on the GPU, as parts of consecutive output rows, each in its stored type. */
export interface GpuMatrix {
  n: number;
  k: number;
  parts: GpuMatrixPart[];
}

export interface GpuLayerWeights {
  inputNorm: GPUBuffer; // [hidden]
  qkv: GpuMatrix; // [qDim + 2 kvDim, hidden]
  o: GpuMatrix; // [hidden, qDim]
  postNorm: GPUBuffer; // [hidden]
  gateUp: GpuMatrix; // [2 intermediate, hidden]
  down: GpuMatrix; // [hidden, intermediate]
}

export interface GpuShardWeights {
  layers: GpuLayerWeights[];
  finalNorm?: GPUBuffer | undefined; // [hidden]
  lmHead?: GpuMatrix | undefined; // [vocab, hidden]
  /** Bytes of the weight buffers on the device. */
  bytes: number;
}

function expectVector(a: Float32Array | undefined, length: number, what: string): Float32Array {
  if (a === undefined) throw new EngineError("ERR_WEIGHTS_MISSING", `${what} is missing`);
  if (a.length !== length) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${what} has ${a.length} values, expected ${length}`,
    );
  }
  return a;
}

function expectMatrix(
  m: PackedMatrix | undefined,
  n: number,
  k: number,
  what: string,
): PackedMatrix {
  if (m === undefined) throw new EngineError("ERR_WEIGHTS_MISSING", `${what} is missing`);
  if (m.rows !== n || m.cols !== k) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${what} is [${m.rows}, ${m.cols}], expected [${n}, ${k}]`,
    );
  }
  return m;
}

/** One piece of a fused matrix: its stored rows and, when the matrix has biases, its bias. */
interface Piece {
  m: PackedMatrix;
  bias: Float32Array | undefined;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes as u32 words (zero padded to a multiple of 4). */
function words(bytes: Uint8Array): Uint32Array {
  if (bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0) {
    return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const out = new Uint32Array(Math.ceil(bytes.byteLength / 4));
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Uploads weights piece by piece; `bytes` counts every buffer it created. */
export class GpuWeightUploader {
  readonly #ctx: GpuContext;
  /** Bytes one storage binding holds. */
  readonly #maxBytes: number;
  readonly #config: ModelConfig;
  readonly #created: GPUBuffer[] = [];
  bytes = 0;

  /** `maxPartBytes` caps a matrix part below the device's binding limit (tests split small models). */
  constructor(ctx: GpuContext, config: ModelConfig, maxPartBytes = Number.POSITIVE_INFINITY) {
    this.#ctx = ctx;
    this.#config = config;
    this.#maxBytes = Math.min(
      ctx.limits.maxStorageBufferBindingSize,
      ctx.limits.maxBufferSize,
      maxPartBytes,
    );
  }

  #upload(data: Float32Array | Uint32Array, label: string): GPUBuffer {
    const b = uploadStorage(this.#ctx, data, label);
    this.#created.push(b);
    this.bytes += b.size;
    return b;
  }

  vector(data: Float32Array, length: number, label: string): GPUBuffer {
    return this.#upload(expectVector(data, length, label), label);
  }

  /** A fused matrix from pieces of equal k; biases all present or all absent. */
  matrix(pieces: Piece[], label: string): GpuMatrix {
    const k = pieces[0]?.m.cols ?? 0;
    const withBias = pieces.some((p) => p.bias !== undefined);
    for (const [i, p] of pieces.entries()) {
      if (p.m.cols !== k) {
        throw new EngineError(
          "ERR_WEIGHTS_SHAPE",
          `${label}[${i}] has ${p.m.cols} columns, not ${k}`,
        );
      }
      if (withBias) expectVector(p.bias, p.m.rows, `${label}[${i}] bias`);
    }
    const parts: GpuMatrixPart[] = [];
    let n0 = 0;
    for (let i = 0; i < pieces.length;) {
      const type = pieces[i]?.m.type ?? "f32";
      let j = i;
      while (j < pieces.length && pieces[j]?.m.type === type) j++;
      const group = pieces.slice(i, j);
      const rows = group.reduce((a, p) => a + p.m.rows, 0);
      const data = concatBytes(group.map((p) => p.m.data));
      const bias = withBias
        ? concatFloats(group.map((p) => p.bias ?? new Float32Array()))
        : undefined;
      this.#parts(parts, { type, rows, cols: k, data }, bias, n0, label);
      n0 += rows;
      i = j;
    }
    return { n: n0, k, parts };
  }

  #parts(
    out: GpuMatrixPart[],
    m: PackedMatrix,
    bias: Float32Array | undefined,
    n0: number,
    label: string,
  ): void {
    const { type, rows: n, cols: k } = m;
    const stored = type === "f32" ? matmulRowStride(k) * 4 : rowBytes(type, k);
    const rowsPerPart = Math.max(1, Math.floor(this.#maxBytes / stored));
    const floats = type === "f32" ? padRows(f32Values(m), n, k) : undefined;
    const ks = matmulRowStride(k);
    for (let r0 = 0; r0 < n; r0 += rowsPerPart) {
      const rows = Math.min(rowsPerPart, n - r0);
      const at = `${label}[${n0 + r0}]`;
      const buffer =
        floats !== undefined
          ? this.#upload(floats.subarray(r0 * ks, (r0 + rows) * ks), at)
          : this.#upload(
              words(
                packedWeightBytes({
                  type,
                  rows,
                  cols: k,
                  data: m.data.subarray(r0 * stored, (r0 + rows) * stored),
                }),
              ),
              at,
            );
      out.push({
        type,
        buffer,
        bias:
          bias === undefined ? undefined : this.#upload(bias.subarray(r0, r0 + rows), `${at} bias`),
        n0: n0 + r0,
        n: rows,
      });
    }
  }

  layer(w: LayerWeights, layer: number): GpuLayerWeights {
    const { hiddenSize: h, intermediateSize: m, qDim, kvDim } = this.#config;
    const name = (s: string): string => `layer ${layer} ${s}`;
    return {
      inputNorm: this.vector(w.inputNorm, h, name("input_layernorm")),
      qkv: this.matrix(
        [
          { m: expectMatrix(w.q, qDim, h, name("q_proj")), bias: w.qBias },
          { m: expectMatrix(w.k, kvDim, h, name("k_proj")), bias: w.kBias },
          { m: expectMatrix(w.v, kvDim, h, name("v_proj")), bias: w.vBias },
        ],
        name("qkv"),
      ),
      o: this.matrix(
        [{ m: expectMatrix(w.o, h, qDim, name("o_proj")), bias: w.oBias }],
        name("o_proj"),
      ),
      postNorm: this.vector(w.postNorm, h, name("post_attention_layernorm")),
      gateUp: this.matrix(
        [
          { m: expectMatrix(w.gate, m, h, name("gate_proj")), bias: w.gateBias },
          { m: expectMatrix(w.up, m, h, name("up_proj")), bias: w.upBias },
        ],
        name("gate_up"),
      ),
      down: this.matrix(
        [{ m: expectMatrix(w.down, h, m, name("down_proj")), bias: w.downBias }],
        name("down_proj"),
      ),
    };
  }

  head(finalNorm: Float32Array, lmHead: PackedMatrix): { finalNorm: GPUBuffer; lmHead: GpuMatrix } {
    const { hiddenSize: h, vocabSize: v } = this.#config;
    return {
      finalNorm: this.vector(finalNorm, h, "model.norm"),
      lmHead: this.matrix(
        [{ m: expectMatrix(lmHead, v, h, "lm_head"), bias: undefined }],
        "lm_head",
      ),
    };
  }

  /** Destroys every buffer this uploader created (a failed load leaves nothing on the device). */
  destroyAll(): void {
    for (const b of this.#created) b.destroy();
    this.#created.length = 0;
    this.bytes = 0;
  }
}

export function destroyShardWeights(w: GpuShardWeights): void {
  const mats: GpuMatrix[] = [];
  const vecs: GPUBuffer[] = [];
  for (const l of w.layers) {
    mats.push(l.qkv, l.o, l.gateUp, l.down);
    vecs.push(l.inputNorm, l.postNorm);
  }
  if (w.lmHead !== undefined) mats.push(w.lmHead);
  if (w.finalNorm !== undefined) vecs.push(w.finalNorm);
  for (const m of mats) {
    for (const p of m.parts) {
      p.buffer.destroy();
      p.bias?.destroy();
    }
  }
  for (const b of vecs) b.destroy();
}
