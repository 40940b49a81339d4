// Wrapper of kv-write.wgsl: copies each row's K and V from the fused qkv buffer into its claimed cell of
// one layer's K/V cache buffer ([cells, 2, kvDim], K then V per cell). Guards shapes and sizes; one thread per (row, value).

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
import source from "./kv-write.wgsl?raw";

const WG = 64;

export interface KvWriteSpec {
  /** kvHeads * headDim. */
  kvDim: number;
  /** Floats per row of src. */
  stride: number;
  kOffset: number;
  vOffset: number;
  /** Cells in each cache buffer. */
  cells: number;
}

export interface KvWriteBuffers {
  dims: GPUBuffer; // Dims { rows }
  src: GPUBuffer; // [rows, stride]
  cells: GPUBuffer; // [rows] u32
  kv: GPUBuffer; // [cells, 2, kvDim]
}

export function bindKvWrite(
  ctx: GpuContext,
  spec: KvWriteSpec,
  buffers: KvWriteBuffers,
  capacityRows: number,
  label = "kv-write",
): BoundOp {
  requireInt(label, "kvDim", spec.kvDim);
  requireInt(label, "cells", spec.cells);
  requireInt(label, "kOffset", spec.kOffset, 0);
  requireInt(label, "vOffset", spec.vOffset, 0);
  requireInt(label, "capacityRows", capacityRows);
  for (const [name, off] of [
    ["kOffset", spec.kOffset],
    ["vOffset", spec.vOffset],
  ] as const) {
    if (off + spec.kvDim > spec.stride)
      throw shapeError(label, `${name} + kvDim > stride ${spec.stride}`);
  }
  requireWorkgroup(ctx, label, WG);
  requireBytes(label, "src", buffers.src, capacityRows * spec.stride * 4);
  requireBytes(label, "cells", buffers.cells, capacityRows * 4);
  requireBytes(label, "kv", buffers.kv, spec.cells * 2 * spec.kvDim * 4);
  const pipeline = pipelineCache(ctx).get("kv-write", source, {
    KV_DIM: spec.kvDim,
    STRIDE: spec.stride,
    K_OFFSET: spec.kOffset,
    V_OFFSET: spec.vOffset,
    CELLS: spec.cells,
    WG,
  });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.src, buffers.cells, buffers.kv],
    capacityRows,
    (rows) => Math.ceil((rows * spec.kvDim) / WG),
  );
}
