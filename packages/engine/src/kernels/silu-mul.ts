// Wrapper of silu-mul.wgsl: out[rows, m] = silu(gate) * up from a fused [rows, 2m] gate|up buffer.
// Output rows optionally strided (a padded matmul input). Guards shapes and sizes; one thread per output.

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
  /** Floats per row of out (default m). */
  outStride?: number | undefined;
}

export interface SiluMulBuffers {
  dims: GPUBuffer; // Dims { rows }
  gu: GPUBuffer; // [rows, 2m]
  out: GPUBuffer; // [rows, outStride]
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
  const outStride = spec.outStride ?? spec.m;
  requireInt(label, "outStride", outStride, spec.m);
  requireWorkgroup(ctx, label, WG);
  requireBytes(label, "gu", buffers.gu, capacityRows * 2 * spec.m * 4);
  requireBytes(label, "out", buffers.out, capacityRows * outStride * 4);
  const pipeline = pipelineCache(ctx).get("silu-mul", source, {
    M: spec.m,
    OUT_STRIDE: outStride,
    WG,
  });
  return boundOp(
    ctx,
    label,
    pipeline,
    [buffers.dims, buffers.gu, buffers.out],
    capacityRows,
    (rows) => Math.ceil((rows * spec.m) / WG),
  );
}
