// Uploads a shard's weights to the GPU once, in the layout the WebGPU forward pass wants: q|k|v fused into
// one [qDim + 2 kvDim, hidden] matrix (and their biases), gate|up fused into [2 intermediate, hidden], and
// any matrix larger than one storage binding split by output rows into parts; rows are stored with the
// matmul's row stride (k rounded up to 4, zero padded), so any model shape works. The embedding table stays on
// the host (the first shard gathers rows there, bit-exact). Not the forward pass (see layer-plan.ts).

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import { uploadStorage } from "../gpu/buffers.ts";
import type { GpuContext } from "../gpu/device.ts";
import { matmulRowStride, padRows } from "../kernels/matmul.ts";
import type { LayerWeights, ShardWeights } from "../model/weights.ts";

/**
 * A row-major [n, k] matrix on the GPU (each row stored in matmulRowStride(k) floats, zero padded),
 * possibly split into parts of consecutive output rows.
 */
export interface GpuMatrix {
  n: number;
  k: number;
  /** Output rows [n0, n0 + n) of the matrix ([n, k]) and of its bias ([n]) when it has one. */
  parts: { buffer: GPUBuffer; bias: GPUBuffer | undefined; n0: number; n: number }[];
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
  /** Bytes uploaded. */
  bytes: number;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function expectLength(a: Float32Array | undefined, length: number, what: string): Float32Array {
  if (a === undefined) throw new EngineError("ERR_WEIGHTS_MISSING", `${what} is missing`);
  if (a.length !== length) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${what} has ${a.length} values, expected ${length}`,
    );
  }
  return a;
}

/** Biases of fused matrices: all present (concatenated) or all absent. */
function fusedBias(
  parts: (Float32Array | undefined)[],
  lengths: number[],
  what: string,
): Float32Array | undefined {
  if (parts.every((p) => p === undefined)) return undefined;
  return concat(parts.map((p, i) => expectLength(p, lengths[i] ?? 0, `${what}[${i}]`)));
}

class Uploader {
  readonly #ctx: GpuContext;
  /** Floats per part: what one storage binding holds. */
  readonly #maxFloats: number;
  bytes = 0;

  constructor(ctx: GpuContext, maxPartBytes: number) {
    this.#ctx = ctx;
    const limit = Math.min(
      ctx.limits.maxStorageBufferBindingSize,
      ctx.limits.maxBufferSize,
      maxPartBytes,
    );
    this.#maxFloats = Math.floor(limit / 4);
  }

  vector(data: Float32Array, label: string): GPUBuffer {
    this.bytes += data.byteLength;
    return uploadStorage(this.#ctx, data, label);
  }

  matrix(
    data: Float32Array,
    n: number,
    k: number,
    bias: Float32Array | undefined,
    label: string,
  ): GpuMatrix {
    expectLength(data, n * k, label);
    if (bias !== undefined) expectLength(bias, n, `${label} bias`);
    const ks = matmulRowStride(k);
    const stored = padRows(data, n, k);
    const rowsPerPart = Math.max(1, Math.floor(this.#maxFloats / ks));
    const parts: GpuMatrix["parts"] = [];
    for (let n0 = 0; n0 < n; n0 += rowsPerPart) {
      const rows = Math.min(rowsPerPart, n - n0);
      parts.push({
        buffer: this.vector(stored.subarray(n0 * ks, (n0 + rows) * ks), `${label}[${n0}]`),
        bias:
          bias === undefined
            ? undefined
            : this.vector(bias.subarray(n0, n0 + rows), `${label} bias[${n0}]`),
        n0,
        n: rows,
      });
    }
    return { n, k, parts };
  }
}

function uploadLayer(
  up: Uploader,
  config: ModelConfig,
  w: LayerWeights,
  layer: number,
): GpuLayerWeights {
  const { hiddenSize: h, intermediateSize: m, qDim, kvDim } = config;
  const name = (s: string): string => `layer ${layer} ${s}`;
  const qkv = concat([
    expectLength(w.q, qDim * h, name("q_proj")),
    expectLength(w.k, kvDim * h, name("k_proj")),
    expectLength(w.v, kvDim * h, name("v_proj")),
  ]);
  const qkvBias = fusedBias([w.qBias, w.kBias, w.vBias], [qDim, kvDim, kvDim], name("qkv bias"));
  const gateUp = concat([
    expectLength(w.gate, m * h, name("gate_proj")),
    expectLength(w.up, m * h, name("up_proj")),
  ]);
  const gateUpBias = fusedBias([w.gateBias, w.upBias], [m, m], name("gate/up bias"));
  return {
    inputNorm: up.vector(
      expectLength(w.inputNorm, h, name("input_layernorm")),
      name("input_layernorm"),
    ),
    qkv: up.matrix(qkv, qDim + 2 * kvDim, h, qkvBias, name("qkv")),
    o: up.matrix(w.o, h, qDim, w.oBias, name("o_proj")),
    postNorm: up.vector(
      expectLength(w.postNorm, h, name("post_attention_layernorm")),
      name("post_attention_layernorm"),
    ),
    gateUp: up.matrix(gateUp, 2 * m, h, gateUpBias, name("gate_up")),
    down: up.matrix(w.down, h, m, w.downBias, name("down_proj")),
  };
}

/**
 * Uploads layers, final norm and LM head. `maxPartBytes` caps a matrix part below the device's binding
 * limit (tests use it to exercise split matrices on small models).
 */
export function uploadShardWeights(
  ctx: GpuContext,
  config: ModelConfig,
  weights: ShardWeights,
  head: boolean,
  maxPartBytes = Number.POSITIVE_INFINITY,
): GpuShardWeights {
  const up = new Uploader(ctx, maxPartBytes);
  const layers = weights.layers.map((w, i) => uploadLayer(up, config, w, weights.layerStart + i));
  if (!head) return { layers, bytes: up.bytes };
  const { hiddenSize: h, vocabSize: v } = config;
  const finalNorm = up.vector(expectLength(weights.finalNorm, h, "model.norm"), "model.norm");
  const lmHead = up.matrix(
    expectLength(weights.lmHead, v * h, "lm_head"),
    v,
    h,
    undefined,
    "lm_head",
  );
  return { layers, finalNorm, lmHead, bytes: up.bytes };
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
