// Wrapper of rmsnorm.wgsl: y[rows, n] = rmsnorm(x[rows, n]) * w[n], y rows optionally strided (a padded
// matmul input). Guards shapes and buffer sizes, specialises the pipeline on (n, eps, yStride) and
// dispatches one workgroup per row.

import type { GpuContext } from "../gpu/device.ts";
import { pipelineCache } from "../gpu/pipelines.ts";
import {
  boundOp,
  requireBytes,
  requireInt,
  requireWorkgroup,
  shapeError,
  type BoundOp,
} from "../gpu/kernel-op.ts";
import source from "./rmsnorm.wgsl?raw";

const WG = 64;

export interface RmsnormSpec {
  n: number;
  eps: number;
  /** Floats per row of y (default n). */
  yStride?: number | undefined;
}

export interface RmsnormBuffers {
  dims: GPUBuffer; // Dims { rows }
  x: GPUBuffer; // [rows, n]
  w: GPUBuffer; // [n]
  y: GPUBuffer; // [rows, yStride]
}

export function bindRmsnorm(
  ctx: GpuContext,
  spec: RmsnormSpec,
  buffers: RmsnormBuffers,
  capacityRows: number,
  label = "rmsnorm",
): BoundOp {
  requireInt(label, "n", spec.n);
  requireInt(label, "capacityRows", capacityRows);
  if (!(spec.eps > 0) || !Number.isFinite(spec.eps)) throw shapeError(label, `eps ${spec.eps}`);
  const yStride = spec.yStride ?? spec.n;
  requireInt(label, "yStride", yStride, spec.n);
  requireWorkgroup(ctx, label, WG);
  requireBytes(label, "w", buffers.w, spec.n * 4);
  requireBytes(label, "x", buffers.x, capacityRows * spec.n * 4);
  requireBytes(label, "y", buffers.y, capacityRows * yStride * 4);
  const pipeline = pipelineCache(ctx).get("rmsnorm", source, {
    N: spec.n,
    EPS: spec.eps,
    Y_STRIDE: yStride,
    WG,
  });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.x, buffers.w, buffers.y],
    capacityRows,
    (rows) => rows,
  );
}
