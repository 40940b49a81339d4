// Kernel and decode timings on one GpuContext: each WGSL kernel's GFLOP/s or GB/s on model-like shapes
// (matmul as GEMV for decode and batched for prefill/verification), and decode tokens/s of a whole shard.
// Browser-safe, so the same code times Node (Dawn) and Chromium (bench/harness). Timing: many dispatches
// in one submit, reps doubled until a run takes >= minMs, best of two runs.

import { createDimsUniform, createStorage, uploadStorage, writeDims } from "../src/gpu/buffers.ts";
import type { GpuContext } from "../src/gpu/device.ts";
import type { BoundOp } from "../src/gpu/kernel-op.ts";
import { bindAttention, packGather } from "../src/kernels/attention.ts";
import { bindKvWrite } from "../src/kernels/kv-write.ts";
import { bindMatmul } from "../src/kernels/matmul.ts";
import { bindRmsnorm } from "../src/kernels/rmsnorm.ts";
import { bindRope } from "../src/kernels/rope.ts";
import { bindSiluMul } from "../src/kernels/silu-mul.ts";
import type { LayerShard } from "../src/model/batch.ts";
import { createWebGpuShard } from "../src/webgpu/create-webgpu-shard.ts";
import { Rng } from "../test/support/random.ts";
import { randomModel, type RandomModelShape } from "../test/support/random-model.ts";

export interface BenchRow {
  kernel: string;
  shape: string;
  msPerRun: number;
  gflops?: number | undefined;
  gbps?: number | undefined;
}

export interface BenchOptions {
  /** Minimum wall time of a timed submit (default 250 ms). */
  minMs?: number;
  /** Fewer, smaller shapes (tests, slow adapters). */
  quick?: boolean;
}

/** The matmul shapes [rows, k, n] timed here and, for comparison, through onnxruntime-web. */
export function matmulShapes(quick: boolean): [number, number, number][] {
  return quick
    ? [
        [1, 512, 512],
        [8, 512, 512],
      ]
    : [
        [1, 512, 512],
        [1, 1024, 1024],
        [1, 2048, 2048],
        [4, 1024, 1024],
        [8, 1024, 1024],
        [64, 512, 512],
        [64, 1024, 1024],
      ];
}

/** Milliseconds per dispatch of `op` at `rows`. */
export async function timeOp(
  ctx: GpuContext,
  op: BoundOp,
  rows: number,
  minMs = 250,
): Promise<number> {
  const run = async (reps: number): Promise<number> => {
    const t0 = performance.now();
    const encoder = ctx.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let i = 0; i < reps; i++) op.encode(pass, rows);
    pass.end();
    ctx.device.queue.submit([encoder.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run(1); // pipeline compile, first-touch
  let reps = 1;
  let ms = await run(reps);
  while (ms < minMs && reps < 4096) {
    reps *= 2;
    ms = await run(reps);
  }
  const again = await run(reps);
  ctx.check();
  return Math.min(ms, again) / reps;
}

export async function benchKernels(
  ctx: GpuContext,
  options: BenchOptions = {},
): Promise<BenchRow[]> {
  const minMs = options.minMs ?? 250;
  const quick = options.quick ?? false;
  const rng = new Rng(99);
  const rows: BenchRow[] = [];
  const dims = createDimsUniform(ctx, "dims");
  const buffers: GPUBuffer[] = [dims];
  const f32 = (n: number, label: string): GPUBuffer => {
    const b = uploadStorage(ctx, rng.floats(n), label);
    buffers.push(b);
    return b;
  };
  const empty = (n: number, label: string): GPUBuffer => {
    const b = createStorage(ctx, n * 4, label);
    buffers.push(b);
    return b;
  };
  const time = async (op: BoundOp, r: number): Promise<number> => {
    writeDims(ctx, dims, r);
    const ms = await timeOp(ctx, op, r, minMs);
    op.destroy();
    return ms;
  };
  try {
    for (const [r, k, n] of matmulShapes(quick)) {
      const w = f32(n * k, "w");
      const op = bindMatmul(
        ctx,
        { k, n, bias: false, accumulate: false },
        { dims, x: f32(r * k, "x"), w, y: empty(r * n, "y") },
        r,
      );
      const ms = await time(op, r);
      rows.push({
        kernel: r === 1 ? "matmul (GEMV)" : "matmul",
        shape: `${r}x${k} . ${n}x${k}^T`,
        msPerRun: ms,
        gflops: (2 * r * k * n) / (ms * 1e6),
        gbps: ((n * k + r * k + r * n) * 4) / (ms * 1e6),
      });
      w.destroy();
    }
    const r = quick ? 8 : 64;
    const h = quick ? 256 : 1024;
    {
      const op = bindRmsnorm(
        ctx,
        { n: h, eps: 1e-5 },
        { dims, x: f32(r * h, "x"), w: f32(h, "w"), y: empty(r * h, "y") },
        r,
      );
      const ms = await time(op, r);
      rows.push({
        kernel: "rmsnorm",
        shape: `${r}x${h}`,
        msPerRun: ms,
        gbps: (2 * r * h * 4) / (ms * 1e6),
      });
    }
    {
      const heads = 12;
      const hd = 64;
      const stride = heads * hd;
      const op = bindRope(
        ctx,
        { heads, headDim: hd, half: hd / 2, stride, offset: 0 },
        { dims, x: f32(r * stride, "x"), cos: f32(r * 32, "cos"), sin: f32(r * 32, "sin") },
        r,
      );
      const ms = await time(op, r);
      rows.push({
        kernel: "rope",
        shape: `${r}x${heads}x${hd}`,
        msPerRun: ms,
        gbps: (2 * r * stride * 4) / (ms * 1e6),
      });
    }
    {
      const m = quick ? 688 : 2816;
      const op = bindSiluMul(
        ctx,
        { m },
        { dims, gu: f32(r * 2 * m, "gu"), out: empty(r * m, "out") },
        r,
      );
      const ms = await time(op, r);
      rows.push({
        kernel: "silu-mul",
        shape: `${r}x${m}`,
        msPerRun: ms,
        gbps: (3 * r * m * 4) / (ms * 1e6),
      });
    }
    {
      const kvDim = 256;
      const cells = 1024;
      const stride = 3 * kvDim;
      const op = bindKvWrite(
        ctx,
        { kvDim, stride, kOffset: kvDim, vOffset: 2 * kvDim, cells },
        {
          dims,
          src: f32(r * stride, "src"),
          cells: uploadStorage(ctx, Uint32Array.from(rng.permutation(cells).slice(0, r)), "cells"),
          kv: empty(cells * 2 * kvDim, "kv"),
        },
        r,
      );
      const ms = await time(op, r);
      rows.push({
        kernel: "kv-write",
        shape: `${r}x2x${kvDim}`,
        msPerRun: ms,
        gbps: (4 * r * kvDim * 4) / (ms * 1e6),
      });
    }
    for (const [ar, ctxLen] of quick
      ? [[1, 128]]
      : [
          [1, 256],
          [1, 1024],
          [8, 1024],
        ]) {
      const heads = 8;
      const kvHeads = 4;
      const hd = 64;
      const cells = ctxLen! + ar!;
      const offsets = Int32Array.from({ length: ar! + 1 }, (_, i) => i * ctxLen!);
      const cellIdx = new Int32Array(ar! * ctxLen!);
      for (let i = 0; i < ar!; i++)
        cellIdx.set(
          Int32Array.from({ length: ctxLen! }, (_, j) => j),
          i * ctxLen!,
        );
      const op = bindAttention(
        ctx,
        { heads, kvHeads, headDim: hd, qStride: heads * hd, qOffset: 0, cells },
        {
          dims,
          q: f32(ar! * heads * hd, "q"),
          kv: f32(cells * 2 * kvHeads * hd, "kv"),
          gather: uploadStorage(ctx, packGather(offsets, cellIdx), "gather"),
          out: empty(ar! * heads * hd, "out"),
        },
        ar!,
      );
      const ms = await time(op, ar!);
      rows.push({
        kernel: "attention",
        shape: `${ar} rows x ${heads}/${kvHeads} heads x ${hd}, ${ctxLen} cells`,
        msPerRun: ms,
        gflops: (4 * ar! * heads * ctxLen! * hd) / (ms * 1e6),
      });
    }
  } finally {
    for (const b of buffers) b.destroy();
  }
  return rows;
}

export interface DecodeResult {
  model: string;
  prefillTokens: number;
  prefillTokPerS: number;
  decodeTokens: number;
  decodeTokPerS: number;
  /** Decode with an AbortSignal (one submit per layer). */
  decodeWithSignalTokPerS: number;
  /** 4-row verification batches (speculative runs): rows per second. */
  verifyRowsPerS: number;
}

async function timeDecode(
  shard: LayerShard,
  start: number,
  steps: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let token = 1;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const r = await shard.run(
      {
        tokens: Int32Array.of(token),
        positions: Int32Array.of(start + i),
        seqIds: [[0]],
        outputRows: Int32Array.of(0),
      },
      signal,
    );
    token = r.outputs?.[0]?.argmax ?? 1;
  }
  return performance.now() - t0;
}

/** Decode tokens/s of one shard holding a whole random model of `shape`. */
export async function benchDecode(
  ctx: GpuContext,
  shape: RandomModelShape,
  steps: number,
  prefill = 16,
): Promise<DecodeResult> {
  const { config, weights } = randomModel(shape);
  const kvCells = prefill + 3 * steps + 16;
  const spec = {
    model: "random",
    layerStart: 0,
    layerEnd: config.numLayers,
    embeds: true,
    tail: true,
    backend: "webgpu" as const,
    kvCells,
  };
  const shard = await createWebGpuShard({ config, weights, spec, device: ctx });
  try {
    const positions = Int32Array.from({ length: prefill }, (_, i) => i);
    const tokens = Int32Array.from(positions, (p) => (p * 7919) % config.vocabSize);
    const run = () =>
      shard.run({
        tokens,
        positions,
        seqIds: Array.from(positions, () => [0]),
        outputRows: Int32Array.of(prefill - 1),
      });
    await run(); // compile
    await shard.kv({ op: "clear" });
    const t0 = performance.now();
    await run();
    const prefillMs = performance.now() - t0;
    await timeDecode(shard, prefill, 2, undefined); // warm the 1-row path
    await shard.kv({ op: "seq_rm", seq: -1, p0: prefill, p1: -1 });
    const decodeMs = await timeDecode(shard, prefill, steps, undefined);
    await shard.kv({ op: "seq_rm", seq: -1, p0: prefill, p1: -1 });
    const signalMs = await timeDecode(shard, prefill, steps, new AbortController().signal);
    await shard.kv({ op: "seq_rm", seq: -1, p0: prefill, p1: -1 });
    const verifySteps = Math.max(1, Math.floor(steps / 4));
    const tv = performance.now();
    for (let i = 0; i < verifySteps; i++) {
      const p = prefill + i * 4;
      const pos = Int32Array.of(p, p + 1, p + 2, p + 3);
      await shard.run({
        tokens: Int32Array.of(1, 2, 3, 4),
        positions: pos,
        seqIds: [[0], [0], [0], [0]],
        outputRows: Int32Array.of(0, 1, 2, 3),
      });
    }
    const verifyMs = performance.now() - tv;
    const { hiddenSize: h, qDim, kvDim, intermediateSize: m } = config;
    const perLayer = h * (qDim + 2 * kvDim) + qDim * h + 3 * h * m;
    const p = Math.round((config.numLayers * perLayer + config.vocabSize * h) / 1e6);
    return {
      model: `random llama ${shape.layers}L h${shape.hidden} i${shape.intermediate} v${shape.vocab} (~${p}M params)`,
      prefillTokens: prefill,
      prefillTokPerS: (prefill * 1000) / prefillMs,
      decodeTokens: steps,
      decodeTokPerS: (steps * 1000) / decodeMs,
      decodeWithSignalTokPerS: (steps * 1000) / signalMs,
      verifyRowsPerS: (verifySteps * 4 * 1000) / verifyMs,
    };
  } finally {
    await shard.destroy();
  }
}
