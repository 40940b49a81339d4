// Wrapper of rope.wgsl: rotary embedding in place on `heads` heads of a row-strided buffer (e.g. the q and
// k parts of a fused qkv buffer, which are adjacent). Guards shapes and sizes; one thread per rotated pair.

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
import source from "./rope.wgsl?raw";

const WG = 64;

export interface RopeSpec {
  heads: number;
  headDim: number;
  /** Rotated pairs per head (headDim / 2 for full rotary). */
  half: number;
  /** Floats per row of x. */
  stride: number;
  /** Float offset of the first head within a row. */
  offset: number;
}

export interface RopeBuffers {
  dims: GPUBuffer; // Dims { rows }
  x: GPUBuffer; // [rows, stride], rotated in place
  cos: GPUBuffer; // [rows, half]
  sin: GPUBuffer; // [rows, half]
}

export function bindRope(
  ctx: GpuContext,
  spec: RopeSpec,
  buffers: RopeBuffers,
  capacityRows: number,
  label = "rope",
): BoundOp {
  requireInt(label, "heads", spec.heads);
  requireInt(label, "headDim", spec.headDim);
  requireInt(label, "half", spec.half);
  requireInt(label, "offset", spec.offset, 0);
  requireInt(label, "capacityRows", capacityRows);
  if (2 * spec.half > spec.headDim) throw shapeError(label, `half ${spec.half} > headDim / 2`);
  if (spec.offset + spec.heads * spec.headDim > spec.stride) {
    throw shapeError(
      label,
      `heads end at ${spec.offset + spec.heads * spec.headDim} > stride ${spec.stride}`,
    );
  }
  requireWorkgroup(ctx, label, WG);
  requireBytes(label, "x", buffers.x, capacityRows * spec.stride * 4);
  requireBytes(label, "cos", buffers.cos, capacityRows * spec.half * 4);
  requireBytes(label, "sin", buffers.sin, capacityRows * spec.half * 4);
  const pipeline = pipelineCache(ctx).get("rope", source, {
    HEADS: spec.heads,
    HEAD_DIM: spec.headDim,
    HALF: spec.half,
    STRIDE: spec.stride,
    OFFSET: spec.offset,
    WG,
  });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.x, buffers.cos, buffers.sin],
    capacityRows,
    (rows) => Math.ceil((rows * spec.heads * spec.half) / WG),
  );
}
