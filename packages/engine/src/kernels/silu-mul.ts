// Wrapper of silu-mul.wgsl: out[rows, m] = silu(gate) * up from a fused [rows, 2m] gate|up buffer.
// Guards shapes and sizes; one thread per output.

import type { GpuContext } from "../gpu/device.ts";
import { pipelineCache } from "../gpu/pipelines.ts";
import {
  boundOp,
  requireBytes,
  requireInt,
  requireWorkgroup,
  type BoundOp,
} from "../gpu/kernel-op.ts";
import source from "./silu-mul.wgsl?raw";

const WG = 64;

export interface SiluMulSpec {
  /** Intermediate size (outputs per row). */
  m: number;
}

export interface SiluMulBuffers {
  dims: GPUBuffer; // Dims { rows }
  gu: GPUBuffer; // [rows, 2m]
  out: GPUBuffer; // [rows, m]
}

export function bindSiluMul(
  ctx: GpuContext,
  spec: SiluMulSpec,
  buffers: SiluMulBuffers,
  capacityRows: number,
  label = "silu-mul",
): BoundOp {
  requireInt(label, "m", spec.m);
  requireInt(label, "capacityRows", capacityRows);
  requireWorkgroup(ctx, label, WG);
  requireBytes(label, "gu", buffers.gu, capacityRows * 2 * spec.m * 4);
  requireBytes(label, "out", buffers.out, capacityRows * spec.m * 4);
  const pipeline = pipelineCache(ctx).get("silu-mul", source, { M: spec.m, WG });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.gu, buffers.out],
    capacityRows,
    (rows) => Math.ceil((rows * spec.m) / WG),
  );
}
