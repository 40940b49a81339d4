// GPU buffers for the engine: usage flags (spelled out here so Node needs no WebGPU globals), guarded
// creation (ERR_GPU_LIMIT before the device sees an oversized buffer), uploads, one-copy readback, and a
// pool of scratch buffers keyed by rounded size. Not a tensor type: shapes are the callers' business.

import { EngineError } from "../errors.ts";
import type { GpuContext } from "./device.ts";

/** GPUBufferUsage values (WebGPU spec), so code runs where the globals are not installed (Node). */
export const USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

const MAP_MODE_READ = 0x0001;

/** Storage buffer usable as kernel input/output and as a copy source/destination. */
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Throws ERR_GPU_LIMIT if a buffer of sizeBytes cannot exist or be bound as storage on this device. */
export function guardBufferSize(ctx: GpuContext, sizeBytes: number, label: string): void {
  const { maxBufferSize, maxStorageBufferBindingSize } = ctx.limits;
  const limit = Math.min(maxBufferSize, maxStorageBufferBindingSize);
  if (!Number.isFinite(sizeBytes) || sizeBytes > limit) {
    throw new EngineError(
      "ERR_GPU_LIMIT",
      `${label} needs ${sizeBytes} bytes; this adapter binds at most ${limit} bytes per buffer ` +
        `(maxBufferSize ${maxBufferSize}, maxStorageBufferBindingSize ${maxStorageBufferBindingSize})`,
    );
  }
}

/** Rounds up to a multiple of 16 bytes (and at least 16): storage bindings of vec4 data stay valid. */
export function paddedSize(sizeBytes: number): number {
  return Math.max(16, Math.ceil(sizeBytes / 16) * 16);
}

export function createStorage(ctx: GpuContext, sizeBytes: number, label: string): GPUBuffer {
  const size = paddedSize(sizeBytes);
  guardBufferSize(ctx, size, label);
  return ctx.device.createBuffer({ size, usage: STORAGE_USAGE, label });
}

/** A storage buffer holding `data` (f32 or i32/u32), written at creation. */
export function uploadStorage(
  ctx: GpuContext,
  data: Float32Array | Int32Array | Uint32Array,
  label: string,
): GPUBuffer {
  const size = paddedSize(data.byteLength);
  guardBufferSize(ctx, size, label);
  const buffer = ctx.device.createBuffer({
    size,
    usage: STORAGE_USAGE,
    label,
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  );
  buffer.unmap();
  return buffer;
}

/** A 16-byte uniform buffer holding up to four u32 values (the kernels' `Dims`). */
export function createDimsUniform(ctx: GpuContext, label: string): GPUBuffer {
  return ctx.device.createBuffer({ size: 16, usage: USAGE.UNIFORM | USAGE.COPY_DST, label });
}

export function writeDims(ctx: GpuContext, buffer: GPUBuffer, ...values: number[]): void {
  const u = new Uint32Array(4);
  u.set(values.slice(0, 4));
  ctx.device.queue.writeBuffer(buffer, 0, u);
}

/** Writes a typed array at a byte offset (length padded to 4 bytes by construction of typed arrays). */
export function writeArray(
  ctx: GpuContext,
  buffer: GPUBuffer,
  data: Float32Array | Int32Array | Uint32Array,
  offsetBytes = 0,
): void {
  if (data.byteLength === 0) return;
  ctx.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Copies `sizeBytes` of `src` (at srcOffset) into a fresh staging buffer as part of `encoder`; returns a
 * function that, once the encoder has been submitted, maps the copy and resolves with its bytes.
 */
export function encodeReadback(
  ctx: GpuContext,
  encoder: GPUCommandEncoder,
  src: GPUBuffer,
  srcOffset: number,
  sizeBytes: number,
): () => Promise<ArrayBuffer> {
  const size = paddedSize(sizeBytes);
  const staging = ctx.device.createBuffer({
    size,
    usage: USAGE.MAP_READ | USAGE.COPY_DST,
    label: "readback",
  });
  encoder.copyBufferToBuffer(src, srcOffset, staging, 0, Math.ceil(sizeBytes / 4) * 4);
  return async () => {
    try {
      await staging.mapAsync(MAP_MODE_READ);
      return staging.getMappedRange(0, size).slice(0, sizeBytes);
    } finally {
      staging.destroy();
    }
  };
}

/** Reads `sizeBytes` of a buffer back to the host (one submit, one map). */
export async function readBuffer(
  ctx: GpuContext,
  src: GPUBuffer,
  sizeBytes: number,
  srcOffset = 0,
): Promise<ArrayBuffer> {
  const encoder = ctx.device.createCommandEncoder({ label: "readback" });
  const read = encodeReadback(ctx, encoder, src, srcOffset, sizeBytes);
  ctx.device.queue.submit([encoder.finish()]);
  return read();
}

/**
 * Scratch storage buffers pooled by size class (powers of two from 256 bytes), so runs of varying row
 * counts reuse a handful of allocations. acquire() hands out a buffer of at least the asked size.
 */
export class BufferPool {
  readonly #ctx: GpuContext;
  readonly #free = new Map<number, GPUBuffer[]>();
  readonly #all = new Set<GPUBuffer>();

  constructor(ctx: GpuContext) {
    this.#ctx = ctx;
  }

  static sizeClass(sizeBytes: number): number {
    return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(1, sizeBytes))));
  }

  acquire(sizeBytes: number, label: string): GPUBuffer {
    let size = BufferPool.sizeClass(sizeBytes);
    const limit = Math.min(
      this.#ctx.limits.maxBufferSize,
      this.#ctx.limits.maxStorageBufferBindingSize,
    );
    if (size > limit) size = paddedSize(sizeBytes); // a power of two would exceed the limit; fit exactly
    const list = this.#free.get(size);
    const reused = list?.pop();
    if (reused !== undefined) return reused;
    const buffer = createStorage(this.#ctx, size, label);
    this.#all.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.#all.has(buffer)) return;
    const list = this.#free.get(buffer.size) ?? [];
    list.push(buffer);
    this.#free.set(buffer.size, list);
  }

  /** Bytes currently allocated by the pool (in use or free). */
  allocatedBytes(): number {
    let n = 0;
    for (const b of this.#all) n += b.size;
    return n;
  }

  destroy(): void {
    for (const b of this.#all) b.destroy();
    this.#all.clear();
    this.#free.clear();
  }
}
