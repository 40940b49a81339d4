// Wrapper of attention.wgsl: GQA over per-row gather lists and one layer's interleaved K/V cache. Guards
// shapes and sizes (any head_dim, any heads / kvHeads ratio), one workgroup per (row, head).

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
import { EngineError } from "../errors.ts";
import source from "./attention.wgsl?raw";

const WG = 64;

export interface AttentionSpec {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Floats per row of q, and the offset of head 0 within a row. */
  qStride: number;
  qOffset: number;
  /** Cells in the K/V buffer. */
  cells: number;
  /** Default 1 / sqrt(headDim). */
  scale?: number | undefined;
  /** Floats per row of out (default heads * headDim). */
  outStride?: number | undefined;
}

export interface AttentionBuffers {
  dims: GPUBuffer; // Dims { rows }
  q: GPUBuffer; // [rows, qStride]
  kv: GPUBuffer; // [cells, 2, kvHeads, headDim]
  gather: GPUBuffer; // u32 [rows + 1 + total list length]
  out: GPUBuffer; // [rows, outStride], heads * headDim used
}

/** Packs KvCache's offsets and cell lists into the gather layout the kernel reads. */
export function packGather(offsets: Int32Array, cellIdx: Int32Array): Uint32Array {
  const g = new Uint32Array(offsets.length + cellIdx.length);
  g.set(offsets);
  g.set(cellIdx, offsets.length);
  return g;
}

export function bindAttention(
  ctx: GpuContext,
  spec: AttentionSpec,
  buffers: AttentionBuffers,
  capacityRows: number,
  label = "attention",
): BoundOp {
  requireInt(label, "heads", spec.heads);
  requireInt(label, "kvHeads", spec.kvHeads);
  requireInt(label, "headDim", spec.headDim);
  requireInt(label, "cells", spec.cells);
  requireInt(label, "qOffset", spec.qOffset, 0);
  requireInt(label, "capacityRows", capacityRows);
  if (spec.heads % spec.kvHeads !== 0) {
    throw shapeError(label, `kvHeads ${spec.kvHeads} does not divide heads ${spec.heads}`);
  }
  if (spec.qOffset + spec.heads * spec.headDim > spec.qStride) {
    throw shapeError(label, `query heads end past qStride ${spec.qStride}`);
  }
  const outStride = spec.outStride ?? spec.heads * spec.headDim;
  requireInt(label, "outStride", outStride, spec.heads * spec.headDim);
  requireWorkgroup(ctx, label, WG);
  const wgBytes = (2 * spec.headDim + 2 * WG) * 4;
  if (wgBytes > ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new EngineError(
      "ERR_GPU_LIMIT",
      `${label}: head_dim ${spec.headDim} needs ${wgBytes} bytes of workgroup memory, ` +
        `more than maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  const kvDim = spec.kvHeads * spec.headDim;
  requireBytes(label, "q", buffers.q, capacityRows * spec.qStride * 4);
  requireBytes(label, "kv", buffers.kv, spec.cells * 2 * kvDim * 4);
  requireBytes(label, "gather", buffers.gather, (capacityRows + 1) * 4);
  requireBytes(label, "out", buffers.out, capacityRows * outStride * 4);
  const pipeline = pipelineCache(ctx).get("attention", source, {
    HEADS: spec.heads,
    KV_HEADS: spec.kvHeads,
    HEAD_DIM: spec.headDim,
    Q_STRIDE: spec.qStride,
    Q_OFFSET: spec.qOffset,
    CELLS: spec.cells,
    SCALE: spec.scale ?? 1 / Math.sqrt(spec.headDim),
    OUT_STRIDE: outStride,
    WG,
  });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.q, buffers.kv, buffers.gather, buffers.out],
    capacityRows,
    (rows) => rows * spec.heads,
  );
}
