// Kernel parity cases shared by Node (Dawn) and Chromium (page and worker): every WGSL kernel against its
// reference.ts twin on chosen shapes, including sizes that are not multiples of the workgroup size or of 4
// (matmul rows padded with NaN, which the kernel must ignore; strided outputs whose pad columns must stay
// untouched), plus bitwise batch-invariance checks of matmul and attention. kernel-sweep.ts draws random
// shapes for the same cases. Runs on a GpuContext and returns plain data, so a browser can run it and
// hand the report back through page.evaluate. Test-only.

import type { GpuContext } from "../../src/gpu/device.ts";
import {
  createDimsUniform,
  readBuffer,
  uploadStorage,
  writeDims,
  createStorage,
} from "../../src/gpu/buffers.ts";
import type { BoundOp } from "../../src/gpu/kernel-op.ts";
import { bindAttention, packGather } from "../../src/kernels/attention.ts";
import { bindKvWrite } from "../../src/kernels/kv-write.ts";
import { bindMatmul, matmulRowStride, padRows } from "../../src/kernels/matmul.ts";
import { bindRmsnorm } from "../../src/kernels/rmsnorm.ts";
import { bindRope } from "../../src/kernels/rope.ts";
import { bindSiluMul } from "../../src/kernels/silu-mul.ts";
import {
  addRef,
  attentionRef,
  matmulRef,
  rmsnormRef,
  ropeRef,
  ropeTables,
  siluMulRef,
} from "../../src/kernels/reference.ts";
import { allClose, firstBitDifference, type CloseReport } from "./all-close.ts";
import { Rng } from "./random.ts";

export interface KernelCaseResult {
  name: string;
  ok: boolean;
  detail: string;
}

const TOL = { atol: 1e-5, rtol: 1e-5 };

async function runOp(
  ctx: GpuContext,
  op: BoundOp,
  dims: GPUBuffer,
  rows: number,
  out: GPUBuffer,
  outFloats: number,
): Promise<Float32Array> {
  writeDims(ctx, dims, rows);
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  op.encode(pass, rows);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  return new Float32Array(await readBuffer(ctx, out, outFloats * 4));
}

function report(name: string, r: CloseReport): KernelCaseResult {
  const detail = r.ok
    ? `max abs diff ${r.maxAbsDiff.toExponential(2)}`
    : `${r.mismatches} mismatches, max abs diff ${r.maxAbsDiff}; first: ${r.first.join("; ")}`;
  return { name, ok: r.ok, detail };
}

/** The [rows, n] values of a [rows, stride] buffer, and whether its pad columns still hold `pad`. */
function unpad(
  data: Float32Array,
  rows: number,
  n: number,
  stride: number,
  pad: number,
): { values: Float32Array; padsKept: boolean } {
  const values = new Float32Array(rows * n);
  let padsKept = true;
  for (let r = 0; r < rows; r++) {
    values.set(data.subarray(r * stride, r * stride + n), r * n);
    for (let c = n; c < stride; c++) padsKept &&= data[r * stride + c] === pad;
  }
  return { values, padsKept };
}

/** A report that also fails when a strided output wrote into its pad columns. */
function stridedReport(name: string, r: CloseReport, padsKept: boolean): KernelCaseResult {
  const res = report(name, r);
  return padsKept ? res : { name, ok: false, detail: `wrote into pad columns; ${res.detail}` };
}

const PAD = 12345.5;

function bitReport(name: string, a: Float32Array, b: Float32Array): KernelCaseResult {
  const i = firstBitDifference(a, b);
  return {
    name,
    ok: i < 0,
    detail: i < 0 ? "bit-identical" : `first differing element ${i}: ${a[i]} vs ${b[i]}`,
  };
}

export async function matmulCase(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  k: number,
  n: number,
  bias: boolean,
  accumulate: boolean,
): Promise<KernelCaseResult> {
  const x = rng.floats(rows * k);
  const w = rng.floats(n * k);
  const b = rng.floats(n);
  const y0 = rng.floats(rows * n);
  const expected = matmulRef(x, w, rows, k, n, bias ? b : undefined);
  if (accumulate) {
    const acc = y0.slice();
    addRef(acc, expected);
    expected.set(acc);
  }
  const dims = createDimsUniform(ctx, "dims");
  const yBuf = uploadStorage(ctx, accumulate ? y0 : new Float32Array(rows * n), "y");
  const op = bindMatmul(
    ctx,
    { k, n, bias, accumulate },
    {
      dims,
      x: uploadStorage(ctx, padRows(x, rows, k, NaN), "x"),
      w: uploadStorage(ctx, padRows(w, n, k, NaN), "w"),
      bias: uploadStorage(ctx, b, "b"),
      y: yBuf,
    },
    rows,
  );
  const got = await runOp(ctx, op, dims, rows, yBuf, rows * n);
  return report(
    `matmul rows=${rows} k=${k} n=${n}${bias ? " bias" : ""}${accumulate ? " acc" : ""}`,
    allClose(got, expected, TOL),
  );
}

/** A row computed alone, in a full 4-row tile and in a partial tile must give the same bits. */
async function matmulInvariance(
  ctx: GpuContext,
  rng: Rng,
  k: number,
  n: number,
): Promise<KernelCaseResult> {
  const rowsBig = 11; // tiles of 4, 4 and a partial 3
  const x = rng.floats(rowsBig * k);
  const w = rng.floats(n * k);
  const wBuf = uploadStorage(ctx, padRows(w, n, k, NaN), "w");
  const dims = createDimsUniform(ctx, "dims");
  const run = async (xs: Float32Array, rows: number): Promise<Float32Array> => {
    const y = createStorage(ctx, rows * n * 4, "y");
    const op = bindMatmul(
      ctx,
      { k, n, bias: false, accumulate: false },
      { dims, x: uploadStorage(ctx, padRows(xs, rows, k, NaN), "x"), w: wBuf, y },
      rows,
    );
    return runOp(ctx, op, dims, rows, y, rows * n);
  };
  const all = await run(x, rowsBig);
  for (const r of [0, 5, 9, 10]) {
    const alone = await run(x.slice(r * k, (r + 1) * k), 1);
    const inBatch = all.slice(r * n, (r + 1) * n);
    const res = bitReport(`matmul invariance k=${k} n=${n} row ${r}`, inBatch, alone);
    if (!res.ok) return res;
  }
  return {
    name: `matmul invariance k=${k} n=${n}`,
    ok: true,
    detail: "rows 0, 5, 9, 10 bit-identical alone and in a batch of 11",
  };
}

/** A weight split by output rows into parts, each filling its columns of one y: the same bits as whole. */
async function matmulSplit(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  k: number,
  n: number,
): Promise<KernelCaseResult> {
  const x = rng.floats(rows * k);
  const w = rng.floats(n * k);
  const b = rng.floats(n);
  const dims = createDimsUniform(ctx, "dims");
  const xBuf = uploadStorage(ctx, padRows(x, rows, k, NaN), "x");
  const wPadded = padRows(w, n, k, NaN);
  const ks = matmulRowStride(k);
  const whole = createStorage(ctx, rows * n * 4, "y");
  const op = bindMatmul(
    ctx,
    { k, n, bias: true, accumulate: false },
    {
      dims,
      x: xBuf,
      w: uploadStorage(ctx, wPadded, "w"),
      bias: uploadStorage(ctx, b, "b"),
      y: whole,
    },
    rows,
  );
  const expected = await runOp(ctx, op, dims, rows, whole, rows * n);
  const y = createStorage(ctx, rows * n * 4, "y");
  const cuts = [0, 5, 6, n];
  writeDims(ctx, dims, rows);
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let i = 0; i + 1 < cuts.length; i++) {
    const n0 = cuts[i]!;
    const n1 = cuts[i + 1]!;
    bindMatmul(
      ctx,
      { k, n: n1 - n0, bias: true, accumulate: false, yStride: n, yOffset: n0 },
      {
        dims,
        x: xBuf,
        w: uploadStorage(ctx, wPadded.slice(n0 * ks, n1 * ks), "w part"),
        bias: uploadStorage(ctx, b.slice(n0, n1), "b part"),
        y,
      },
      rows,
    ).encode(pass, rows);
  }
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  const got = new Float32Array(await readBuffer(ctx, y, rows * n * 4));
  const ref = report(
    `matmul split rows=${rows} k=${k} n=${n}`,
    allClose(got, matmulRef(x, w, rows, k, n, b), TOL),
  );
  return ref.ok
    ? bitReport(`matmul split rows=${rows} k=${k} n=${n} vs whole`, got, expected)
    : ref;
}

export async function rmsnormCase(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  n: number,
  yStride = n,
): Promise<KernelCaseResult> {
  const x = rng.floats(rows * n, 3);
  const w = rng.floats(n);
  const expected = rmsnormRef(x, w, rows, n, 1e-5);
  const dims = createDimsUniform(ctx, "dims");
  const y = uploadStorage(ctx, new Float32Array(rows * yStride).fill(PAD), "y");
  const op = bindRmsnorm(
    ctx,
    { n, eps: 1e-5, yStride },
    { dims, x: uploadStorage(ctx, x, "x"), w: uploadStorage(ctx, w, "w"), y },
    rows,
  );
  const got = unpad(await runOp(ctx, op, dims, rows, y, rows * yStride), rows, n, yStride, PAD);
  return stridedReport(
    `rmsnorm rows=${rows} n=${n} yStride=${yStride}`,
    allClose(got.values, expected, TOL),
    got.padsKept,
  );
}

export async function ropeCase(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  heads: number,
  headDim: number,
  pad: { before: number; after: number },
): Promise<KernelCaseResult> {
  const half = headDim / 2;
  const width = heads * headDim;
  const stride = pad.before + width + pad.after;
  const buf = rng.floats(rows * stride);
  const positions = Int32Array.from({ length: rows }, () => rng.int(5000));
  const invFreq = Float64Array.from(
    { length: half },
    (_, i) => 1 / Math.pow(10000, (2 * i) / headDim),
  );
  const { cos, sin } = ropeTables(positions, invFreq);
  const expected = buf.slice();
  const heads0 = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++)
    heads0.set(buf.subarray(r * stride + pad.before, r * stride + pad.before + width), r * width);
  ropeRef(heads0, cos, sin, rows, heads, headDim, half);
  for (let r = 0; r < rows; r++)
    expected.set(heads0.subarray(r * width, (r + 1) * width), r * stride + pad.before);
  const dims = createDimsUniform(ctx, "dims");
  const x = uploadStorage(ctx, buf, "x");
  const op = bindRope(
    ctx,
    { heads, headDim, half, stride, offset: pad.before },
    { dims, x, cos: uploadStorage(ctx, cos, "cos"), sin: uploadStorage(ctx, sin, "sin") },
    rows,
  );
  const got = await runOp(ctx, op, dims, rows, x, rows * stride);
  return report(
    `rope rows=${rows} heads=${heads} headDim=${headDim} stride=${stride}`,
    allClose(got, expected, TOL),
  );
}

export async function siluMulCase(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  m: number,
  outStride = m,
): Promise<KernelCaseResult> {
  const gu = rng.floats(rows * 2 * m, 12); // includes large |g| to exercise the overflow-free sigmoid
  const gate = new Float32Array(rows * m);
  const up = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    gate.set(gu.subarray(r * 2 * m, r * 2 * m + m), r * m);
    up.set(gu.subarray(r * 2 * m + m, (r + 1) * 2 * m), r * m);
  }
  const dims = createDimsUniform(ctx, "dims");
  const out = uploadStorage(ctx, new Float32Array(rows * outStride).fill(PAD), "out");
  const op = bindSiluMul(
    ctx,
    { m, outStride },
    { dims, gu: uploadStorage(ctx, gu, "gu"), out },
    rows,
  );
  const got = unpad(
    await runOp(ctx, op, dims, rows, out, rows * outStride),
    rows,
    m,
    outStride,
    PAD,
  );
  return stridedReport(
    `silu-mul rows=${rows} m=${m} outStride=${outStride}`,
    allClose(got.values, siluMulRef(gate, up), { atol: 1e-5, rtol: 1e-5 }),
    got.padsKept,
  );
}

export async function kvWriteCase(
  ctx: GpuContext,
  rng: Rng,
  rows: number,
  kvDim: number,
  cells: number,
): Promise<KernelCaseResult> {
  const qDim = 2 * kvDim;
  const stride = qDim + 2 * kvDim;
  const src = rng.floats(rows * stride);
  const claimed = rng.permutation(cells).slice(0, rows);
  const kv0 = rng.floats(cells * 2 * kvDim);
  const expected = kv0.slice();
  for (let r = 0; r < rows; r++) {
    const c = claimed[r]!;
    expected.set(src.subarray(r * stride + qDim, r * stride + qDim + kvDim), c * 2 * kvDim);
    expected.set(src.subarray(r * stride + qDim + kvDim, (r + 1) * stride), c * 2 * kvDim + kvDim);
  }
  const dims = createDimsUniform(ctx, "dims");
  const kv = uploadStorage(ctx, kv0, "kv");
  const op = bindKvWrite(
    ctx,
    { kvDim, stride, kOffset: qDim, vOffset: qDim + kvDim, cells },
    {
      dims,
      src: uploadStorage(ctx, src, "src"),
      cells: uploadStorage(ctx, Uint32Array.from(claimed), "cells"),
      kv,
    },
    rows,
  );
  const got = await runOp(ctx, op, dims, rows, kv, cells * 2 * kvDim);
  return bitReport(`kv-write rows=${rows} kvDim=${kvDim} cells=${cells}`, got, expected);
}

export interface AttnShape {
  rows: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  cells: number;
  /** Floats per output row (default heads * headDim). */
  outStride?: number;
}

function interleave(k: Float32Array, v: Float32Array, cells: number, kvDim: number): Float32Array {
  const kv = new Float32Array(cells * 2 * kvDim);
  for (let c = 0; c < cells; c++) {
    kv.set(k.subarray(c * kvDim, (c + 1) * kvDim), c * 2 * kvDim);
    kv.set(v.subarray(c * kvDim, (c + 1) * kvDim), c * 2 * kvDim + kvDim);
  }
  return kv;
}

async function runAttention(
  ctx: GpuContext,
  s: AttnShape,
  q: Float32Array,
  kvBuf: GPUBuffer,
  offsets: Int32Array,
  cellIdx: Int32Array,
): Promise<Float32Array> {
  const dims = createDimsUniform(ctx, "dims");
  const qDim = s.heads * s.headDim;
  const outStride = s.outStride ?? qDim;
  const out = uploadStorage(ctx, new Float32Array(s.rows * outStride).fill(PAD), "out");
  const op = bindAttention(
    ctx,
    {
      heads: s.heads,
      kvHeads: s.kvHeads,
      headDim: s.headDim,
      qStride: qDim,
      qOffset: 0,
      cells: s.cells,
      outStride,
    },
    {
      dims,
      q: uploadStorage(ctx, q, "q"),
      kv: kvBuf,
      gather: uploadStorage(ctx, packGather(offsets, cellIdx), "gather"),
      out,
    },
    s.rows,
  );
  const got = unpad(
    await runOp(ctx, op, dims, s.rows, out, s.rows * outStride),
    s.rows,
    qDim,
    outStride,
    PAD,
  );
  // A write into the pad columns shows up as a NaN row tail that no reference value matches.
  if (!got.padsKept) return new Float32Array(s.rows * qDim).fill(NaN);
  return got.values;
}

/** Random per-row cell lists (distinct cells in random pool order), lengths 1 .. cells. */
function randomLists(
  rng: Rng,
  rows: number,
  cells: number,
): { offsets: Int32Array; cellIdx: Int32Array } {
  const offsets = new Int32Array(rows + 1);
  const lists: Int32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const len = r === 0 ? cells : 1 + rng.int(cells);
    lists.push(rng.permutation(cells).slice(0, len));
    offsets[r + 1] = offsets[r]! + len;
  }
  const cellIdx = new Int32Array(offsets[rows]!);
  lists.forEach((l, r) => cellIdx.set(l, offsets[r]));
  return { offsets, cellIdx };
}

export async function attentionCase(
  ctx: GpuContext,
  rng: Rng,
  s: AttnShape,
): Promise<KernelCaseResult> {
  const kvDim = s.kvHeads * s.headDim;
  const q = rng.floats(s.rows * s.heads * s.headDim, 2);
  const k = rng.floats(s.cells * kvDim, 2);
  const v = rng.floats(s.cells * kvDim);
  const { offsets, cellIdx } = randomLists(rng, s.rows, s.cells);
  const expected = attentionRef(q, k, v, offsets, cellIdx, s.rows, s.heads, s.kvHeads, s.headDim);
  const kvBuf = uploadStorage(ctx, interleave(k, v, s.cells, kvDim), "kv");
  const got = await runAttention(ctx, s, q, kvBuf, offsets, cellIdx);
  const stride = s.outStride === undefined ? "" : ` outStride=${s.outStride}`;
  return report(
    `attention rows=${s.rows} heads=${s.heads}/${s.kvHeads} headDim=${s.headDim} cells=${s.cells}${stride}`,
    allClose(got, expected, TOL),
  );
}

/** A row's attention alone and as row 2 of a batch with other lists must give the same bits. */
async function attentionInvariance(ctx: GpuContext, rng: Rng): Promise<KernelCaseResult> {
  const s: AttnShape = { rows: 4, heads: 6, kvHeads: 2, headDim: 20, cells: 150 };
  const kvDim = s.kvHeads * s.headDim;
  const q = rng.floats(s.rows * s.heads * s.headDim, 2);
  const kvBuf = uploadStorage(ctx, rng.floats(s.cells * 2 * kvDim, 2), "kv");
  const { offsets, cellIdx } = randomLists(rng, s.rows, s.cells);
  const batch = await runAttention(ctx, s, q, kvBuf, offsets, cellIdx);
  const qDim = s.heads * s.headDim;
  const r = 2;
  const list = cellIdx.slice(offsets[r], offsets[r + 1]);
  const alone = await runAttention(
    ctx,
    { ...s, rows: 1 },
    q.slice(r * qDim, (r + 1) * qDim),
    kvBuf,
    Int32Array.from([0, list.length]),
    list,
  );
  return bitReport(
    `attention invariance (list of ${list.length} cells)`,
    batch.slice(r * qDim, (r + 1) * qDim),
    alone,
  );
}

/** Every case, in a fixed order from a fixed seed. */
export async function runKernelCases(ctx: GpuContext, seed = 1234): Promise<KernelCaseResult[]> {
  const rng = new Rng(seed);
  const out: KernelCaseResult[] = [];
  for (const [rows, n] of [
    [1, 1],
    [3, 7],
    [2, 64],
    [5, 130],
    [17, 48],
  ] as const) {
    out.push(await rmsnormCase(ctx, rng, rows, n));
  }
  out.push(await rmsnormCase(ctx, rng, 6, 50, 52));
  out.push(await rmsnormCase(ctx, rng, 3, 63, 64));
  for (const [rows, k, n, bias, acc] of [
    [1, 4, 1, false, false],
    [1, 8, 5, false, false],
    [3, 12, 7, true, false],
    [4, 16, 16, false, true],
    [5, 20, 9, true, true],
    [9, 64, 33, false, false],
    [13, 128, 70, true, true],
    [70, 40, 131, false, false],
    [1, 1, 3, false, false],
    [2, 2, 5, true, false],
    [5, 3, 9, false, true],
    [7, 50, 77, true, true],
    [11, 77, 50, false, true],
    [4, 63, 101, false, false],
  ] as const) {
    out.push(await matmulCase(ctx, rng, rows, k, n, bias, acc));
  }
  out.push(await matmulInvariance(ctx, rng, 48, 37));
  out.push(await matmulInvariance(ctx, rng, 50, 13));
  out.push(await matmulSplit(ctx, rng, 6, 24, 19));
  out.push(await matmulSplit(ctx, rng, 5, 77, 11));
  for (const [rows, heads, headDim, before, after] of [
    [1, 1, 2, 0, 0],
    [3, 2, 12, 0, 0],
    [5, 3, 20, 4, 8],
    [2, 5, 80, 16, 0],
  ] as const) {
    out.push(await ropeCase(ctx, rng, rows, heads, headDim, { before, after }));
  }
  for (const [rows, m] of [
    [1, 1],
    [3, 7],
    [5, 100],
  ] as const)
    out.push(await siluMulCase(ctx, rng, rows, m));
  out.push(await siluMulCase(ctx, rng, 4, 77, 80));
  for (const [rows, kvDim, cells] of [
    [1, 4, 3],
    [5, 24, 9],
    [7, 65, 40],
  ] as const) {
    out.push(await kvWriteCase(ctx, rng, rows, kvDim, cells));
  }
  for (const s of [
    { rows: 1, heads: 1, kvHeads: 1, headDim: 4, cells: 1 },
    { rows: 3, heads: 4, kvHeads: 2, headDim: 12, cells: 10 },
    { rows: 2, heads: 6, kvHeads: 2, headDim: 20, cells: 70 },
    { rows: 3, heads: 5, kvHeads: 5, headDim: 24, cells: 130 },
    { rows: 2, heads: 8, kvHeads: 1, headDim: 80, cells: 9 },
    { rows: 1, heads: 2, kvHeads: 1, headDim: 10, cells: 64 },
    { rows: 3, heads: 5, kvHeads: 1, headDim: 10, cells: 12, outStride: 52 },
  ]) {
    out.push(await attentionCase(ctx, rng, s));
  }
  out.push(await attentionInvariance(ctx, rng));
  return out;
}
