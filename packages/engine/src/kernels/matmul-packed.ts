// Wrapper of the packed-weight matmul kernels: y[rows, n] = x[rows, k] . w[n, k]^T (+ bias) (+ y) with w
// kept on the GPU in its stored bytes (f16, bf16, the legacy 32-element blocks, K-quants) and dequantized
// in registers; f32 weights go to the plain matmul (bindMatmul). Composes each type's WGSL (common byte
// reads + the type's decoder + its family's kernel), guards shapes, buffer sizes and device limits, and
// sizes the dispatch exactly as matmul.ts does; the pipeline depends on (type, k, n, bias, accumulate,
// yStride), never on rows, so a row's bits do not depend on its batch. Not a loader: callers upload
// packedWeightBytes(m) into a buffer of packedGpuBytes(type, n, k) bytes.

import { EngineError } from "../errors.ts";
import type { GpuContext } from "../gpu/device.ts";
import { pipelineCache } from "../gpu/pipelines.ts";
import { USAGE } from "../gpu/buffers.ts";
import {
  boundOp,
  requireBytes,
  requireInt,
  requireWorkgroup,
  shapeError,
  zeroBuffer,
  type BoundOp,
} from "../gpu/kernel-op.ts";
import {
  TENSOR_TYPES,
  rowBytes,
  type PackedMatrix,
  type TensorType,
} from "../quant/tensor-type.ts";
import {
  bindMatmul,
  matmulRowStride,
  matmulWorkgroups,
  padRows,
  type MatmulBuffers,
  type MatmulSpec,
} from "./matmul.ts";
import common from "./dequant/common.wgsl?raw";
import kscale from "./dequant/kscale.wgsl?raw";
import f16 from "./dequant/f16.wgsl?raw";
import bf16 from "./dequant/bf16.wgsl?raw";
import q8_0 from "./dequant/q8_0.wgsl?raw";
import q4_0 from "./dequant/q4_0.wgsl?raw";
import q4_1 from "./dequant/q4_1.wgsl?raw";
import q5_0 from "./dequant/q5_0.wgsl?raw";
import q5_1 from "./dequant/q5_1.wgsl?raw";
import q4_k from "./dequant/q4_k.wgsl?raw";
import q5_k from "./dequant/q5_k.wgsl?raw";
import q6_k from "./dequant/q6_k.wgsl?raw";
import familyF16 from "./matmul-f16.wgsl?raw";
import familyQ32 from "./matmul-q32.wgsl?raw";
import familyQk from "./matmul-qk.wgsl?raw";

const WG = 64;

type PackedType = Exclude<TensorType, "f32">;

/** Each stored type's complete kernel source: byte reads, its decoder, its family's kernel. */
const SOURCES: Readonly<Record<PackedType, string>> = {
  f16: [common, f16, familyF16].join("\n"),
  bf16: [common, bf16, familyF16].join("\n"),
  q8_0: [common, q8_0, familyQ32].join("\n"),
  q4_0: [common, q4_0, familyQ32].join("\n"),
  q4_1: [common, q4_1, familyQ32].join("\n"),
  q5_0: [common, q5_0, familyQ32].join("\n"),
  q5_1: [common, q5_1, familyQ32].join("\n"),
  q4_k: [common, kscale, q4_k, familyQk].join("\n"),
  q5_k: [common, kscale, q5_k, familyQk].join("\n"),
  q6_k: [common, kscale, q6_k, familyQk].join("\n"),
};

export interface PackedMatmulSpec extends MatmulSpec {
  /** Storage type of w. */
  type: TensorType;
}

export interface PackedMatmulBuffers extends MatmulBuffers {
  /** f32: [n, matmulRowStride(k)] floats; any other type: the stored bytes (packedWeightBytes). */
  w: GPUBuffer;
}

/** Throws ERR_KERNEL_SHAPE unless k is a whole number of the type's blocks. */
function requireWholeBlocks(label: string, type: TensorType, k: number): void {
  const info = TENSOR_TYPES[type];
  if (k % info.blockElems !== 0) {
    throw shapeError(
      label,
      `k = ${k} is not a whole number of ${info.ggmlName} blocks of ${info.blockElems}`,
    );
  }
}

/**
 * Bytes of the GPU buffer that holds an [n, k] weight of `type`: f32 rows at matmulRowStride(k) floats;
 * any other type its stored bytes rounded up to a whole number of 4-byte words (at least one).
 */
export function packedGpuBytes(type: TensorType, n: number, k: number): number {
  requireInt("packedGpuBytes", "n", n);
  requireInt("packedGpuBytes", "k", k);
  requireWholeBlocks("packedGpuBytes", type, k);
  if (type === "f32") return n * matmulRowStride(k) * 4;
  return Math.max(4, Math.ceil((n * rowBytes(type, k)) / 4) * 4);
}

/**
 * What to upload for a weight matrix ([rows = n outputs, cols = k]): for f32 the floats with rows padded
 * to matmulRowStride(k) (pad zero); otherwise its stored bytes, zero-padded to packedGpuBytes. Shares no
 * memory with `m` unless no padding is needed (then it is `m.data` itself).
 */
export function packedWeightBytes(m: PackedMatrix): Uint8Array {
  const size = packedGpuBytes(m.type, m.rows, m.cols);
  if (m.type === "f32") {
    const aligned =
      m.data.byteOffset % 4 === 0
        ? new Float32Array(m.data.buffer, m.data.byteOffset, m.rows * m.cols)
        : new Float32Array(m.data.slice().buffer, 0, m.rows * m.cols);
    const padded = padRows(aligned, m.rows, m.cols);
    return new Uint8Array(padded.buffer, padded.byteOffset, padded.byteLength);
  }
  if (m.data.byteLength === size) return m.data;
  const out = new Uint8Array(size);
  out.set(m.data);
  return out;
}

/** The op's fixed Part { yOffset, colTiles = ceil(n / 4), lastCol = n - 1 } uniform. */
function partUniform(ctx: GpuContext, yOffset: number, n: number): GPUBuffer {
  const b = ctx.device.createBuffer({
    size: 16,
    usage: USAGE.UNIFORM,
    mappedAtCreation: true,
    label: "packed matmul part",
  });
  new Uint32Array(b.getMappedRange()).set([yOffset, Math.ceil(n / 4), n - 1]);
  b.unmap();
  return b;
}

/**
 * Binds y = x . w^T (+ bias) (+ y) for a weight stored as `spec.type`. x rows are f32 at a stride of
 * matmulRowStride(k) floats; y rows at yStride floats with this op's n columns from yOffset, so the parts
 * of a weight split by output rows can fill one y. f32 delegates to bindMatmul.
 */
export function bindPackedMatmul(
  ctx: GpuContext,
  spec: PackedMatmulSpec,
  buffers: PackedMatmulBuffers,
  capacityRows: number,
  label = `matmul ${spec.type}`,
): BoundOp {
  const { type, k, n } = spec;
  if (!(type in TENSOR_TYPES)) throw shapeError(label, `unknown tensor type ${String(type)}`);
  if (type === "f32") return bindMatmul(ctx, spec, buffers, capacityRows, label);
  requireInt(label, "k", k);
  requireInt(label, "n", n);
  requireInt(label, "capacityRows", capacityRows);
  requireWholeBlocks(label, type, k);
  requireWorkgroup(ctx, label, WG);
  const yStride = spec.yStride ?? n;
  const yOffset = spec.yOffset ?? 0;
  requireInt(label, "yOffset", yOffset, 0);
  if (yOffset + n > yStride)
    throw shapeError(label, `columns end at ${yOffset + n} > yStride ${yStride}`);
  const wBytes = packedGpuBytes(type, n, k);
  const limit = Math.min(ctx.limits.maxStorageBufferBindingSize, 2 ** 32 - 4);
  if (wBytes > limit) {
    throw new EngineError(
      "ERR_GPU_LIMIT",
      `${label}: the [${n}, ${k}] ${TENSOR_TYPES[type].ggmlName} weight needs ${wBytes} bytes in one ` +
        `binding; this adapter binds at most ${limit} (split it by output rows)`,
    );
  }
  const ks = matmulRowStride(k);
  requireBytes(label, "w", buffers.w, wBytes);
  requireBytes(label, "x", buffers.x, capacityRows * ks * 4);
  requireBytes(label, "y", buffers.y, capacityRows * yStride * 4);
  if (spec.bias) {
    if (buffers.bias === undefined) throw shapeError(label, "spec.bias is set but no bias buffer");
    requireBytes(label, "bias", buffers.bias, n * 4);
  }
  const pipeline = pipelineCache(ctx).get(`matmul-${type}`, SOURCES[type], {
    K: k,
    N: n,
    HAS_BIAS: spec.bias ? 1 : 0,
    ACCUMULATE: spec.accumulate ? 1 : 0,
    Y_STRIDE: yStride,
    WG,
  });
  const bias = spec.bias && buffers.bias !== undefined ? buffers.bias : zeroBuffer(ctx);
  const part = partUniform(ctx, yOffset, n);
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.x, buffers.w, bias, buffers.y, part],
    capacityRows,
    (rows) => matmulWorkgroups(spec, rows),
    [part],
  );
}
