// A short speed test for a peer's capabilities: matmul GFLOP/s with the engine's own matmul kernel (the op
// that dominates a layer) on a GpuContext, or with the CPU reference. The planner only uses ratios between
// peers, so this is a rough number from a fraction of a second of work, not a benchmark (see bench/).
// The GPU result is checked against the reference, so a device that computes garbage fails loudly.

import { EngineError } from "../errors.ts";
import { matmulRef } from "../kernels/reference.ts";
import { bindMatmul, padRows } from "../kernels/matmul.ts";
import {
  createDimsUniform,
  createStorage,
  readBuffer,
  uploadStorage,
  writeDims,
} from "./buffers.ts";
import type { GpuContext } from "./device.ts";

export interface SpeedTestOptions {
  /** Rows of x (a verification batch, default 8). */
  rows?: number | undefined;
  /** Inner dimension (default 512). */
  k?: number | undefined;
  /** Output columns (default 512). */
  n?: number | undefined;
  /** Keep measuring until this much time has passed (default 150 ms). */
  minDurationMs?: number | undefined;
  /** Upper bound on timed rounds (default 64). */
  maxRounds?: number | undefined;
  signal?: AbortSignal | undefined;
}

const DEFAULTS = { rows: 8, k: 512, n: 512, minDurationMs: 150, maxRounds: 64 };
/** Dispatches per GPU round: one submit amortises the per-submit overhead like a layer's passes do. */
const DISPATCHES_PER_ROUND = 8;

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new EngineError("ERR_ABORTED", "the speed test was aborted");
}

/** Deterministic pseudo-random values in [-1, 1) (no Math.random: repeatable checks). */
function filled(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Matmul GFLOP/s of the CPU reference on this thread (what the CPU backend runs). */
export function measureCpuGflops(options: SpeedTestOptions = {}): number {
  const { rows, k, n, minDurationMs, maxRounds } = resolve(options);
  // A smaller problem than on the GPU: the reference is slow and this blocks its thread.
  const r = Math.max(1, Math.min(rows, 2));
  const x = filled(r * k, 1);
  const w = filled(n * k, 2);
  const t0 = performance.now();
  let rounds = 0;
  while (rounds < maxRounds && (rounds === 0 || performance.now() - t0 < minDurationMs)) {
    checkAborted(options.signal);
    matmulRef(x, w, r, k, n);
    rounds++;
  }
  const seconds = Math.max(1e-6, (performance.now() - t0) / 1000);
  return (2 * r * k * n * rounds) / seconds / 1e9;
}

/** Matmul GFLOP/s of the engine's WebGPU matmul kernel on `ctx`. Checks one result row. */
export async function measureGpuGflops(
  ctx: GpuContext,
  options: SpeedTestOptions = {},
): Promise<number> {
  const { rows, k, n, minDurationMs, maxRounds } = resolve(options);
  const { signal } = options;
  checkAborted(signal);
  const xHost = filled(rows * k, 1);
  const wHost = filled(n * k, 2);
  const dims = createDimsUniform(ctx, "speed-test dims");
  const x = uploadStorage(ctx, padRows(xHost, rows, k), "speed-test x");
  const w = uploadStorage(ctx, padRows(wHost, n, k), "speed-test w");
  const y = createStorage(ctx, rows * n * 4, "speed-test y");
  const op = bindMatmul(ctx, { k, n, bias: false, accumulate: false }, { dims, x, w, y }, rows);
  try {
    writeDims(ctx, dims, rows);
    const round = async (): Promise<void> => {
      const encoder = ctx.device.createCommandEncoder({ label: "speed-test" });
      const pass = encoder.beginComputePass();
      for (let i = 0; i < DISPATCHES_PER_ROUND; i++) op.encode(pass, rows);
      pass.end();
      ctx.device.queue.submit([encoder.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
      ctx.check();
    };
    await round(); // warm-up: pipeline compilation and first-use costs
    const t0 = performance.now();
    let rounds = 0;
    while (rounds < maxRounds && (rounds === 0 || performance.now() - t0 < minDurationMs)) {
      checkAborted(signal);
      await round();
      rounds++;
    }
    const seconds = Math.max(1e-6, (performance.now() - t0) / 1000);
    const got = new Float32Array(await readBuffer(ctx, y, n * 4)); // row 0
    const want = matmulRef(xHost.subarray(0, k), wHost, 1, k, n);
    for (let j = 0; j < n; j++) {
      const a = got[j] ?? NaN;
      const b = want[j] ?? NaN;
      if (!(Math.abs(a - b) <= 1e-3 * (1 + Math.abs(b)))) {
        throw new EngineError(
          "ERR_INTERNAL",
          `the GPU's matmul is wrong (column ${j}: ${a} instead of ${b}); this adapter cannot be used`,
        );
      }
    }
    return (2 * rows * k * n * DISPATCHES_PER_ROUND * rounds) / seconds / 1e9;
  } finally {
    op.destroy();
    for (const b of [dims, x, w, y]) b.destroy();
  }
}

function resolve(o: SpeedTestOptions): typeof DEFAULTS {
  return {
    rows: o.rows ?? DEFAULTS.rows,
    k: o.k ?? DEFAULTS.k,
    n: o.n ?? DEFAULTS.n,
    minDurationMs: o.minDurationMs ?? DEFAULTS.minDurationMs,
    maxRounds: o.maxRounds ?? DEFAULTS.maxRounds,
  };
}
