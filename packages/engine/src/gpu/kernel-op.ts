// What every kernel wrapper returns and the guards they share: a BoundOp is a pipeline plus its bind group,
// checked once at bind time against a row capacity, that encodes one dispatch for a given row count.
// Knows no model semantics; the wrappers in src/kernels/ say what each binding means.

import { EngineError } from "../errors.ts";
import type { GpuContext } from "./device.ts";
import { dispatch, workgroupGrid } from "./dispatch.ts";
import { uploadStorage } from "./buffers.ts";

export interface BoundOp {
  readonly label: string;
  /** Encodes the dispatch for `rows` rows; the Dims uniform bound to the op must hold the same `rows`. */
  encode(pass: GPUComputePassEncoder, rows: number): void;
  /** Frees buffers the op created for itself (not the ones it was bound to). Idempotent. */
  destroy(): void;
}

export function shapeError(label: string, detail: string): EngineError {
  return new EngineError("ERR_KERNEL_SHAPE", `${label}: ${detail}`);
}

/** Throws ERR_KERNEL_SHAPE unless `value` is an integer >= min. */
export function requireInt(label: string, name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw shapeError(label, `${name} must be an integer >= ${min}, got ${value}`);
  }
}

/** Throws ERR_KERNEL_SHAPE unless `buffer` holds at least `bytes`. */
export function requireBytes(label: string, name: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) {
    throw shapeError(label, `buffer ${name} has ${buffer.size} bytes, needs ${bytes}`);
  }
}

/** Throws ERR_GPU_LIMIT if the workgroup size exceeds the device's limits. */
export function requireWorkgroup(ctx: GpuContext, label: string, size: number): void {
  const l = ctx.limits;
  if (size > l.maxComputeInvocationsPerWorkgroup || size > l.maxComputeWorkgroupSizeX) {
    throw new EngineError(
      "ERR_GPU_LIMIT",
      `${label}: workgroup of ${size} exceeds maxComputeInvocationsPerWorkgroup ` +
        `${l.maxComputeInvocationsPerWorkgroup} / maxComputeWorkgroupSizeX ${l.maxComputeWorkgroupSizeX}`,
    );
  }
}

/**
 * A BoundOp whose dispatch is `workgroupsFor(rows)` linear workgroups, guarded against the bound row
 * capacity and folded to 2D when needed.
 */
export function boundOp(
  ctx: GpuContext,
  label: string,
  pipeline: GPUComputePipeline,
  entries: GPUBuffer[],
  capacityRows: number,
  workgroupsFor: (rows: number) => number,
  owned: GPUBuffer[] = [],
): BoundOp {
  const bindGroup = ctx.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: entries.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const maxPerDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  return {
    label,
    encode(pass, rows) {
      if (!Number.isInteger(rows) || rows < 1 || rows > capacityRows) {
        throw shapeError(label, `${rows} rows; this binding holds 1..${capacityRows}`);
      }
      dispatch(pass, pipeline, bindGroup, workgroupGrid(workgroupsFor(rows), maxPerDim, label));
    },
    destroy() {
      for (const b of owned.splice(0)) b.destroy();
    },
  };
}

const zeros = new WeakMap<GpuContext, GPUBuffer>();

/** A 16-byte zero buffer per context, bound where a kernel's optional input is absent (e.g. no bias). */
export function zeroBuffer(ctx: GpuContext): GPUBuffer {
  let b = zeros.get(ctx);
  if (b === undefined) {
    b = uploadStorage(ctx, new Float32Array(4), "zeros");
    zeros.set(ctx, b);
  }
  return b;
}
