// Weight storage types side by side on one GpuContext: the packed matmul (bindPackedMatmul) as GEMV and as
// a small batch per type (time per call, GB/s of stored weight bytes, GFLOP/s), and decode tokens/s of one
// random Llama-shaped model stored as each type. Browser-safe, like kernel-bench.ts.
// Timing: a warm-up submit, reps doubled until one submit of reps dispatches takes >= minMs, then the
// median of several such submits (each waits on the queue), types interleaved round-robin.

import { createDimsUniform, createStorage, uploadStorage, writeDims } from "../src/gpu/buffers.ts";
import type { GpuContext } from "../src/gpu/device.ts";
import type { BoundOp } from "../src/gpu/kernel-op.ts";
import {
  bindPackedMatmul,
  packedGpuBytes,
  packedWeightBytes,
} from "../src/kernels/matmul-packed.ts";
import { matmulRowStride } from "../src/kernels/matmul.ts";
import type { LayerShard } from "../src/model/batch.ts";
import { rowBytes, type TensorType } from "../src/quant/tensor-type.ts";
import { createWebGpuShard } from "../src/webgpu/create-webgpu-shard.ts";
import { Rng } from "../test/support/random.ts";
import { randomPackedMatrix } from "../test/support/random-packed.ts";
import { randomModel, type RandomModelShape } from "../test/support/random-model.ts";

/** The types whose GEMV is timed. */
export const GEMV_TYPES: readonly TensorType[] = ["f32", "f16", "q8_0", "q4_0", "q4_k", "q6_k"];
/** The types a whole model is decoded in. */
export const DECODE_TYPES: readonly TensorType[] = ["f32", "f16", "q8_0", "q4_k"];

/** Decode model: every matrix dimension a multiple of 256, so every type applies (~55M parameters). */
export const PACKED_DECODE_MODEL: RandomModelShape = {
  hidden: 1024,
  layers: 4,
  heads: 8,
  kvHeads: 4,
  intermediate: 2816,
  vocab: 8192,
};

/** --quick: one layer, small dims (still multiples of 256). */
export const PACKED_DECODE_MODEL_QUICK: RandomModelShape = {
  hidden: 256,
  layers: 1,
  heads: 4,
  kvHeads: 2,
  intermediate: 512,
  vocab: 1024,
};

export interface PackedGemvRow {
  type: TensorType;
  rows: number;
  k: number;
  n: number;
  /** Stored weight bytes (rowBytes(type, k) x n). */
  weightBytes: number;
  /** Median milliseconds per call. */
  msPerCall: number;
  /** Weight bytes read per second / 1e9. */
  gbps: number;
  /** 2·rows·n·k per call / 1e9 per second. */
  gflops: number;
  /** Dispatches per timed submit, and timed submits. */
  reps: number;
  repeats: number;
}

export interface PackedDecodeRow {
  type: TensorType;
  model: string;
  /** Weight bytes the shard holds on the GPU (ShardInfo.weightBytes). */
  weightBytes: number;
  decodeTokens: number;
  /** Tokens over total wall time of the timed decode. */
  tokPerS: number;
  /** Median milliseconds per token. */
  msPerTokenMedian: number;
  /** Wall seconds to build the random model and upload it. */
  buildS: number;
}

export interface PackedBenchOptions {
  quick?: boolean;
  /** Minimum wall time of one timed submit (default 200 ms). */
  minMs?: number;
  /** Timed submits per shape (default 5, 3 when quick). */
  repeats?: number;
  /** [rows, n = k] shapes (default packedGemvShapes(quick)). */
  shapes?: readonly (readonly [number, number])[];
  types?: readonly TensorType[];
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wall ms of one submit of `reps` dispatches of `op` at `rows`, waited on. */
async function submitMs(ctx: GpuContext, op: BoundOp, rows: number, reps: number): Promise<number> {
  const t0 = performance.now();
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let i = 0; i < reps; i++) op.encode(pass, rows);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  await ctx.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** Dispatches per submit so that one submit takes >= minMs (after a warm-up submit). */
async function calibrate(
  ctx: GpuContext,
  op: BoundOp,
  rows: number,
  minMs: number,
): Promise<number> {
  await submitMs(ctx, op, rows, 1); // pipeline compile, first touch
  let reps = 1;
  while ((await submitMs(ctx, op, rows, reps)) < minMs && reps < 4096) reps *= 2;
  return reps;
}

/**
 * [rows, n = k] per type: GEMV and an 8-row batch at 4096 (a 7B model's hidden size) plus GEMV at 1024
 * (the decode model's k); quick: GEMV at 1024 only.
 */
export function packedGemvShapes(quick: boolean): [number, number][] {
  return quick
    ? [[1, 1024]]
    : [
        [1, 4096],
        [8, 4096],
        [1, 1024],
      ];
}

/**
 * GEMV (and small-batch) timings of the packed matmul per storage type. All types' weights of one size
 * are uploaded together and each shape's timed submits go round-robin over the types, so a change in the
 * machine's load hits every type alike.
 */
export async function benchPackedGemv(
  ctx: GpuContext,
  options: PackedBenchOptions = {},
): Promise<PackedGemvRow[]> {
  const quick = options.quick ?? false;
  const minMs = options.minMs ?? (quick ? 50 : 200);
  const repeats = options.repeats ?? (quick ? 3 : 5);
  const shapes = options.shapes ?? packedGemvShapes(quick);
  const types = options.types ?? GEMV_TYPES;
  const rng = new Rng(4242);
  const maxRows = Math.max(...shapes.map(([r]) => r));
  const maxN = Math.max(...shapes.map(([, n]) => n));
  const dims = createDimsUniform(ctx, "dims");
  const x = uploadStorage(ctx, rng.floats(maxRows * matmulRowStride(maxN)), "x");
  const y = createStorage(ctx, maxRows * maxN * 4, "y");
  const out: PackedGemvRow[] = [];
  let weights: GPUBuffer[] = [];
  let ops: BoundOp[] = [];
  try {
    for (const n of new Set(shapes.map(([, size]) => size))) {
      const k = n;
      weights = types.map((type) => {
        const w = createStorage(ctx, packedGpuBytes(type, n, k), `w ${type}`);
        const bytes = packedWeightBytes(randomPackedMatrix(type, n, k, () => rng.next()));
        ctx.device.queue.writeBuffer(w, 0, bytes as Uint8Array<ArrayBuffer>);
        return w;
      });
      ops = types.map((type, i) =>
        bindPackedMatmul(
          ctx,
          { type, k, n, bias: false, accumulate: false },
          { dims, x, w: weights[i]!, y },
          maxRows,
          `bench matmul ${type}`,
        ),
      );
      for (const [rows] of shapes.filter(([, size]) => size === n)) {
        writeDims(ctx, dims, rows);
        const reps: number[] = [];
        for (const op of ops) reps.push(await calibrate(ctx, op, rows, minMs));
        const times: number[][] = types.map(() => []);
        for (let r = 0; r < repeats; r++) {
          for (const [i, op] of ops.entries()) {
            times[i]!.push((await submitMs(ctx, op, rows, reps[i]!)) / reps[i]!);
          }
        }
        ctx.check();
        for (const [i, type] of types.entries()) {
          const ms = median(times[i]!);
          const weightBytes = rowBytes(type, k) * n;
          out.push({
            type,
            rows,
            k,
            n,
            weightBytes,
            msPerCall: ms,
            gbps: weightBytes / (ms * 1e6),
            gflops: (2 * rows * n * k) / (ms * 1e6),
            reps: reps[i]!,
            repeats,
          });
        }
      }
      for (const op of ops) op.destroy();
      for (const w of weights) w.destroy();
      ops = [];
      weights = [];
    }
  } finally {
    for (const op of ops) op.destroy();
    for (const w of weights) w.destroy();
    dims.destroy();
    x.destroy();
    y.destroy();
  }
  return out;
}

/** Milliseconds of each greedy 1-row decode step from position `start`. */
async function decodeSteps(shard: LayerShard, start: number, steps: number): Promise<number[]> {
  let token = 1;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const r = await shard.run({
      tokens: Int32Array.of(token),
      positions: Int32Array.of(start + i),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
    });
    times.push(performance.now() - t0);
    token = r.outputs?.[0]?.argmax ?? 1;
  }
  return times;
}

/**
 * Decode tokens/s of a whole random model of `shape` stored as each of `types`: one shard per type, all
 * built and uploaded first, each given an 8-token prefill and 2 warm-up steps; then `rounds` rounds that
 * run steps / rounds greedy 1-row tokens on each shard in turn (the cache truncated back to the prefill
 * each time), so a change in the machine's load hits every type alike.
 */
export async function benchPackedDecode(
  ctx: GpuContext,
  shape: RandomModelShape,
  steps: number,
  types: readonly TensorType[] = DECODE_TYPES,
  rounds = 4,
): Promise<PackedDecodeRow[]> {
  const prefill = 8;
  const perRound = Math.max(1, Math.ceil(steps / rounds));
  const shards: { type: TensorType; shard: LayerShard; model: string; buildS: number }[] = [];
  try {
    for (const type of types) {
      const tb = performance.now();
      const { config, weights } = randomModel(shape, 7, type);
      const spec = {
        model: `random-${type}`,
        layerStart: 0,
        layerEnd: config.numLayers,
        embeds: true,
        tail: true,
        backend: "webgpu" as const,
        kvCells: prefill + perRound + 8,
      };
      const shard = await createWebGpuShard({ config, weights, spec, device: ctx });
      const buildS = (performance.now() - tb) / 1000;
      const { hiddenSize: h, qDim, kvDim, intermediateSize: m } = config;
      const perLayer = h * (qDim + 2 * kvDim) + qDim * h + 3 * h * m;
      const p = Math.round((config.numLayers * perLayer + config.vocabSize * h) / 1e6);
      const model = `random llama ${shape.layers}L h${shape.hidden} i${shape.intermediate} v${shape.vocab} (~${p}M params)`;
      shards.push({ type, shard, model, buildS });
      const positions = Int32Array.from({ length: prefill }, (_, i) => i);
      await shard.run({
        tokens: Int32Array.from(positions, (q) => (q * 7919) % config.vocabSize),
        positions,
        seqIds: Array.from(positions, () => [0]),
        outputRows: Int32Array.of(prefill - 1),
      });
      await decodeSteps(shard, prefill, 2); // compile and warm the 1-row path
      await shard.kv({ op: "seq_rm", seq: -1, p0: prefill, p1: -1 });
    }
    const times = new Map<TensorType, number[]>(types.map((t) => [t, []]));
    for (let r = 0; r < rounds; r++) {
      for (const { type, shard } of shards) {
        times.get(type)!.push(...(await decodeSteps(shard, prefill, perRound)));
        await shard.kv({ op: "seq_rm", seq: -1, p0: prefill, p1: -1 });
      }
    }
    return shards.map(({ type, shard, model, buildS }) => {
      const t = times.get(type)!;
      const total = t.reduce((a, b) => a + b, 0);
      return {
        type,
        model,
        weightBytes: shard.info.weightBytes,
        decodeTokens: t.length,
        tokPerS: (t.length * 1000) / total,
        msPerTokenMedian: median(t),
        buildS,
      };
    });
  } finally {
    for (const { shard } of shards) await shard.destroy();
  }
}
