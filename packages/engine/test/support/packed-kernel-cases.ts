// Packed-weight matmul parity cases shared by Node (Dawn) and Chromium: every stored tensor type against
// packedMatmulRef (gguf-py-exact dequantization, then the float64 matmulRef) on random blocks
// (random-packed.ts) and seeded random shapes — reduction lengths of whole blocks (and odd ones for
// f16/bf16, whose x pad floats are NaN), widths not a multiple of 4, 1-9 rows, bias, accumulate, strided
// outputs at an offset whose other columns must stay untouched — plus bitwise batch invariance (a row alone
// and in batches of 1, 3, 5 and 8 at several positions) and a weight split by output rows giving the same
// bits as whole. Runs on a GpuContext and returns plain data, so a browser page or worker can run it.
// Test-only.

import type { GpuContext } from "../../src/gpu/device.ts";
import {
  createDimsUniform,
  createStorage,
  readBuffer,
  uploadStorage,
  writeDims,
} from "../../src/gpu/buffers.ts";
import type { BoundOp } from "../../src/gpu/kernel-op.ts";
import { padRows } from "../../src/kernels/matmul.ts";
import {
  bindPackedMatmul,
  packedGpuBytes,
  packedWeightBytes,
} from "../../src/kernels/matmul-packed.ts";
import { packedMatmulRef } from "../../src/kernels/matmul-packed-ref.ts";
import { addRef } from "../../src/kernels/reference.ts";
import {
  ALL_TENSOR_TYPES,
  TENSOR_TYPES,
  packedMatrix,
  rowBytes,
  type PackedMatrix,
  type TensorType,
} from "../../src/quant/tensor-type.ts";
import { allClose, firstBitDifference } from "./all-close.ts";
import { randomPackedMatrix } from "./random-packed.ts";
import { Rng } from "./random.ts";

export interface PackedCaseResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** kernels.parity's tolerance (|got - want| <= atol + rtol * |want| against the float64 reference). */
export const PACKED_TOL = { atol: 1e-5, rtol: 1e-5 };

const PAD = 12345.5;

export interface PackedShape {
  type: TensorType;
  rows: number;
  k: number;
  n: number;
  bias: boolean;
  accumulate: boolean;
  /** Extra y columns: y rows hold n + extra floats, this op's n columns start at yOffset <= extra. */
  extra?: number;
  yOffset?: number;
}

/** The stored weight as the GPU holds it. */
function uploadWeight(ctx: GpuContext, m: PackedMatrix, label: string): GPUBuffer {
  const bytes = packedWeightBytes(m);
  const words = new Uint32Array(packedGpuBytes(m.type, m.rows, m.cols) / 4);
  new Uint8Array(words.buffer).set(bytes);
  return uploadStorage(ctx, words, label);
}

async function run(
  ctx: GpuContext,
  op: BoundOp,
  dims: GPUBuffer,
  rows: number,
  out: GPUBuffer,
  floats: number,
): Promise<Float32Array> {
  writeDims(ctx, dims, rows);
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  op.encode(pass, rows);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  return new Float32Array(await readBuffer(ctx, out, floats * 4));
}

function shapeName(s: PackedShape): string {
  const extra = s.extra ?? 0;
  return (
    `${s.type} rows=${s.rows} k=${s.k} n=${s.n}${s.bias ? " bias" : ""}${s.accumulate ? " acc" : ""}` +
    (extra > 0 ? ` yStride=${s.n + extra} yOffset=${s.yOffset ?? 0}` : "")
  );
}

/** One packed matmul against packedMatmulRef; also fails if a column outside the op's window changed. */
export async function packedMatmulCase(
  ctx: GpuContext,
  rng: Rng,
  s: PackedShape,
): Promise<PackedCaseResult> {
  const { type, rows, k, n } = s;
  const extra = s.extra ?? 0;
  const yOffset = s.yOffset ?? 0;
  const yStride = n + extra;
  const name = `packed matmul ${shapeName(s)}`;
  const m = randomPackedMatrix(type, n, k, () => rng.next());
  const x = rng.floats(rows * k);
  const b = rng.floats(n);
  const y0 = rng.floats(rows * n);
  const expected = packedMatmulRef(x, m, rows, s.bias ? b : undefined);
  if (s.accumulate) {
    const acc = y0.slice();
    addRef(acc, expected);
    expected.set(acc);
  }
  const yInit = new Float32Array(rows * yStride).fill(PAD);
  if (s.accumulate) {
    for (let r = 0; r < rows; r++)
      yInit.set(y0.subarray(r * n, (r + 1) * n), r * yStride + yOffset);
  }
  const dims = createDimsUniform(ctx, "dims");
  const y = uploadStorage(ctx, yInit, "y");
  const op = bindPackedMatmul(
    ctx,
    { type, k, n, bias: s.bias, accumulate: s.accumulate, yStride, yOffset },
    {
      dims,
      x: uploadStorage(ctx, padRows(x, rows, k, NaN), "x"),
      w: uploadWeight(ctx, m, "w"),
      bias: uploadStorage(ctx, b, "b"),
      y,
    },
    rows,
  );
  const out = await run(ctx, op, dims, rows, y, rows * yStride);
  const got = new Float32Array(rows * n);
  let padsKept = true;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < yStride; c++) {
      const v = out[r * yStride + c]!;
      if (c >= yOffset && c < yOffset + n) got[r * n + c - yOffset] = v;
      else padsKept &&= v === PAD;
    }
  }
  const rep = allClose(got, expected, PACKED_TOL);
  const detail = rep.ok
    ? `max abs diff ${rep.maxAbsDiff.toExponential(2)}`
    : `${rep.mismatches} mismatches, max abs diff ${rep.maxAbsDiff}; first: ${rep.first.join("; ")}`;
  if (!padsKept) return { name, ok: false, detail: `wrote outside its columns; ${detail}` };
  return { name, ok: rep.ok, detail };
}

/**
 * Bitwise batch invariance: one row's outputs computed alone must equal, bit for bit, the same row's
 * outputs in batches of 1, 3, 5 and 8 random rows at the first, a middle and the last position (full and
 * partial 4-row tiles alike).
 */
export async function packedInvariance(
  ctx: GpuContext,
  rng: Rng,
  type: TensorType,
  k: number,
  n: number,
): Promise<PackedCaseResult> {
  const name = `packed matmul invariance ${type} k=${k} n=${n}`;
  const m = randomPackedMatrix(type, n, k, () => rng.next());
  const w = uploadWeight(ctx, m, "w");
  const dims = createDimsUniform(ctx, "dims");
  const row = rng.floats(k);
  const runBatch = async (xs: Float32Array, rows: number): Promise<Float32Array> => {
    const y = createStorage(ctx, rows * n * 4, "y");
    const op = bindPackedMatmul(
      ctx,
      { type, k, n, bias: false, accumulate: false },
      { dims, x: uploadStorage(ctx, padRows(xs, rows, k, NaN), "x"), w, y },
      rows,
    );
    return run(ctx, op, dims, rows, y, rows * n);
  };
  const alone = await runBatch(row, 1);
  const checked: string[] = [];
  for (const size of [1, 3, 5, 8]) {
    for (const at of new Set([0, size >> 1, size - 1])) {
      const xs = rng.floats(size * k);
      xs.set(row, at * k);
      const got = (await runBatch(xs, size)).slice(at * n, (at + 1) * n);
      const i = firstBitDifference(got, alone);
      if (i >= 0) {
        return {
          name,
          ok: false,
          detail: `batch of ${size} at ${at}: element ${i} is ${got[i]}, alone ${alone[i]}`,
        };
      }
      checked.push(`${size}@${at}`);
    }
  }
  return { name, ok: true, detail: `bit-identical alone and in batches ${checked.join(" ")}` };
}

/** A weight split by output rows into parts (n >= 9) filling their columns of one y: the same bits as whole. */
export async function packedSplit(
  ctx: GpuContext,
  rng: Rng,
  type: TensorType,
  rows: number,
  k: number,
  n: number,
): Promise<PackedCaseResult> {
  const name = `packed matmul split ${type} rows=${rows} k=${k} n=${n}`;
  const m = randomPackedMatrix(type, n, k, () => rng.next());
  const x = rng.floats(rows * k);
  const b = rng.floats(n);
  const dims = createDimsUniform(ctx, "dims");
  const xBuf = uploadStorage(ctx, padRows(x, rows, k, NaN), "x");
  const whole = createStorage(ctx, rows * n * 4, "y");
  const spec = { type, k, bias: true, accumulate: false };
  const wholeOp = bindPackedMatmul(
    ctx,
    { ...spec, n },
    { dims, x: xBuf, w: uploadWeight(ctx, m, "w"), bias: uploadStorage(ctx, b, "b"), y: whole },
    rows,
  );
  const expected = await run(ctx, wholeOp, dims, rows, whole, rows * n);
  const y = createStorage(ctx, rows * n * 4, "y");
  const rb = rowBytes(type, k);
  const cuts = [0, 5, 6, 8, n]; // parts of 5, 1, 2 and n - 8 columns
  writeDims(ctx, dims, rows);
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let i = 0; i + 1 < cuts.length; i++) {
    const n0 = cuts[i]!;
    const n1 = cuts[i + 1]!;
    const part = packedMatrix(type, n1 - n0, k, m.data.slice(n0 * rb, n1 * rb));
    bindPackedMatmul(
      ctx,
      { ...spec, n: n1 - n0, yStride: n, yOffset: n0 },
      {
        dims,
        x: xBuf,
        w: uploadWeight(ctx, part, "w part"),
        bias: uploadStorage(ctx, b.slice(n0, n1), "b part"),
        y,
      },
      rows,
    ).encode(pass, rows);
  }
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  const got = new Float32Array(await readBuffer(ctx, y, rows * n * 4));
  const i = firstBitDifference(got, expected);
  return i < 0
    ? { name, ok: true, detail: "parts bit-identical to the whole" }
    : { name, ok: false, detail: `element ${i}: ${got[i]} split vs ${expected[i]} whole` };
}

/** Reduction lengths to draw for a type: whole blocks; f16/bf16 any length, odd ones included. */
function drawK(rng: Rng, type: TensorType): number {
  const block = TENSOR_TYPES[type].blockElems;
  if (block === 1) return 1 + rng.int(160);
  return block * (1 + rng.int(block === 32 ? 10 : 3));
}

/** Every packed case, in a fixed order from a fixed seed: fixed shapes, random shapes, invariance, splits. */
export async function runPackedKernelCases(
  ctx: GpuContext,
  seed = 4321,
  randomRounds = 3,
): Promise<PackedCaseResult[]> {
  const rng = new Rng(seed);
  const out: PackedCaseResult[] = [];
  const types = ALL_TENSOR_TYPES;
  for (const type of types) {
    const block = TENSOR_TYPES[type].blockElems;
    const k0 = block === 1 ? 64 : block === 32 ? 96 : 512;
    out.push(
      await packedMatmulCase(ctx, rng, {
        type,
        rows: 1,
        k: k0,
        n: 13,
        bias: false,
        accumulate: false,
      }),
    );
    out.push(
      await packedMatmulCase(ctx, rng, {
        type,
        rows: 9,
        k: k0,
        n: 6,
        bias: true,
        accumulate: true,
      }),
    );
    out.push(
      await packedMatmulCase(ctx, rng, {
        type,
        rows: 4,
        k: block === 1 ? 36 : block,
        n: 5,
        bias: true,
        accumulate: false,
        extra: 4,
        yOffset: 3,
      }),
    );
    if (block === 1) {
      for (const k of [7, 50, 63, 77]) {
        out.push(
          await packedMatmulCase(ctx, rng, {
            type,
            rows: 1 + (k % 9),
            k,
            n: 11,
            bias: k % 2 === 1,
            accumulate: k > 60,
          }),
        );
      }
    }
    for (let i = 0; i < randomRounds; i++) {
      const n = 1 + rng.int(40);
      const extra = rng.int(2) === 1 ? rng.int(5) : 0;
      out.push(
        await packedMatmulCase(ctx, rng, {
          type,
          rows: 1 + rng.int(9),
          k: drawK(rng, type),
          n,
          bias: rng.int(2) === 1,
          accumulate: rng.int(2) === 1,
          extra,
          yOffset: rng.int(extra + 1),
        }),
      );
    }
    out.push(await packedInvariance(ctx, rng, type, block === 1 ? 77 : block === 32 ? 64 : 256, 9));
    const ks = block === 1 ? 50 : block === 32 ? 64 : 256;
    out.push(await packedSplit(ctx, rng, type, 6, ks, 11));
    out.push(await packedSplit(ctx, rng, type, 5, ks + (block === 1 ? 13 : 0), 13));
  }
  return out;
}
