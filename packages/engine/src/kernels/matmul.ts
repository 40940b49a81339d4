// Wrapper of matmul.wgsl: y[rows, n] = x[rows, k] . w[n, k]^T (+ bias) (+ y), any k: rows of x and w are
// stored with a stride of matmulRowStride(k) floats (k rounded up to 4; padRows lays a matrix out so).
// Guards shapes and buffer sizes, specialises the pipeline on (k, n, bias, accumulate) and sizes the
// dispatch. The pipeline depends on the weight's shape only, never on rows, so every row's arithmetic is
// identical.

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
import source from "./matmul.wgsl?raw";

const WG = 64;

export interface MatmulSpec {
  k: number;
  n: number;
  /** Add bias[n]. */
  bias: boolean;
  /** y += result (residual connection) instead of y = result. */
  accumulate: boolean;
  /** Floats per row of y (default n) and the column where this matmul's n outputs start (default 0). */
  yStride?: number | undefined;
  yOffset?: number | undefined;
}

export interface MatmulBuffers {
  dims: GPUBuffer; // Dims { rows }
  x: GPUBuffer; // [rows, matmulRowStride(k)] f32, floats past k of a row ignored
  w: GPUBuffer; // [n, matmulRowStride(k)] f32, floats past k of a row ignored
  bias?: GPUBuffer | undefined; // [n] f32
  y: GPUBuffer; // [rows, n] f32
}

/** The op's fixed Part { yOffset } uniform. */
function partUniform(ctx: GpuContext, yOffset: number): GPUBuffer {
  const b = ctx.device.createBuffer({
    size: 16,
    usage: USAGE.UNIFORM,
    mappedAtCreation: true,
    label: "matmul part",
  });
  new Uint32Array(b.getMappedRange()).set([yOffset]);
  b.unmap();
  return b;
}

/** Floats per stored row of x and w for a reduction length k: k rounded up to a multiple of 4. */
export function matmulRowStride(k: number): number {
  return Math.ceil(k / 4) * 4;
}

/**
 * Lays out a row-major [rows, k] matrix with matmulRowStride(k) floats per row, the pad floats set to
 * `pad` (the kernel ignores them; tests fill them with NaN to prove it). Returns `data` itself when
 * k is already a multiple of 4.
 */
export function padRows(data: Float32Array, rows: number, k: number, pad = 0): Float32Array {
  const stride = matmulRowStride(k);
  if (stride === k) return data;
  const out = new Float32Array(rows * stride).fill(pad);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * k, (r + 1) * k), r * stride);
  return out;
}

export function guardMatmul(spec: MatmulSpec, label = "matmul"): void {
  requireInt(label, "k", spec.k);
  requireInt(label, "n", spec.n);
}

/** Workgroups for `rows` rows: one thread per 4x4 tile of y. */
export function matmulWorkgroups(spec: MatmulSpec, rows: number): number {
  return Math.ceil((Math.ceil(rows / 4) * Math.ceil(spec.n / 4)) / WG);
}

export function bindMatmul(
  ctx: GpuContext,
  spec: MatmulSpec,
  buffers: MatmulBuffers,
  capacityRows: number,
  label = "matmul",
): BoundOp {
  guardMatmul(spec, label);
  requireInt(label, "capacityRows", capacityRows);
  requireWorkgroup(ctx, label, WG);
  const { k, n } = spec;
  const yStride = spec.yStride ?? n;
  const yOffset = spec.yOffset ?? 0;
  requireInt(label, "yOffset", yOffset, 0);
  if (yOffset + n > yStride)
    throw shapeError(label, `columns end at ${yOffset + n} > yStride ${yStride}`);
  const ks = matmulRowStride(k);
  requireBytes(label, "w", buffers.w, n * ks * 4);
  requireBytes(label, "x", buffers.x, capacityRows * ks * 4);
  requireBytes(label, "y", buffers.y, capacityRows * yStride * 4);
  if (spec.bias) {
    if (buffers.bias === undefined) throw shapeError(label, "spec.bias is set but no bias buffer");
    requireBytes(label, "bias", buffers.bias, n * 4);
  }
  const pipeline = pipelineCache(ctx).get("matmul", source, {
    K: k,
    N: n,
    HAS_BIAS: spec.bias ? 1 : 0,
    ACCUMULATE: spec.accumulate ? 1 : 0,
    Y_STRIDE: yStride,
    WG,
  });
  const bias = spec.bias && buffers.bias !== undefined ? buffers.bias : zeroBuffer(ctx);
  const part = partUniform(ctx, yOffset);
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
