// Matmul kernel study (llm.c dev/cuda style): each bench/matmul/v*.wgsl variant and the shipped
// src/kernels/matmul.wgsl, checked against matmulRef and then timed on the same shapes in one process, so
// the shipped kernel can be compared with the environment.md baseline (v1) under the same machine load.
// Run: node bench/matmul/variants.mjs [gles|swiftshader|auto]. Not imported by src/.

import { readFileSync } from "node:fs";
import {
  createDimsUniform,
  createStorage,
  readBuffer,
  uploadStorage,
  writeDims,
} from "../../src/gpu/buffers.ts";
import type { GpuContext } from "../../src/gpu/device.ts";
import { boundOp, type BoundOp } from "../../src/gpu/kernel-op.ts";
import { bindMatmul } from "../../src/kernels/matmul.ts";
import { matmulRef } from "../../src/kernels/reference.ts";
import { requestDawnGpu, type DawnAdapterChoice } from "../../src/node/dawn.ts";
import { allClose } from "../../test/support/all-close.ts";
import { Rng } from "../../test/support/random.ts";
import { timeOp } from "../kernel-bench.ts";

interface Variant {
  name: string;
  /** Threads for `rows`, or the shipped kernel (bound through its wrapper). */
  threads?: (rows: number, n: number) => number;
  transposed?: boolean;
}

const VARIANTS: Variant[] = [
  { name: "v1", threads: (r, n) => Math.ceil(r / 4) * Math.ceil(n / 4) },
  { name: "v3", threads: (r, n) => r * Math.ceil(n / 4) },
  { name: "v4", threads: (r, n) => (Math.ceil(r / 4) * n) / 4, transposed: true },
  { name: "v7", threads: (r, n) => Math.ceil(r / 4) * Math.ceil(n / 4) },
  { name: "shipped" },
];

const SHAPES: [number, number, number][] = [
  [1, 1024, 1024],
  [8, 1024, 1024],
  [64, 512, 512],
  [512, 512, 512],
];

function bind(
  ctx: GpuContext,
  v: Variant,
  rows: number,
  k: number,
  n: number,
  x: Float32Array,
  w: Float32Array,
): { op: BoundOp; y: GPUBuffer; dims: GPUBuffer } {
  const dims = createDimsUniform(ctx, "dims");
  writeDims(ctx, dims, rows);
  const y = createStorage(ctx, rows * n * 4, "y");
  const xb = uploadStorage(ctx, x, "x");
  if (v.threads === undefined) {
    const wb = uploadStorage(ctx, w, "w");
    return {
      op: bindMatmul(
        ctx,
        { k, n, bias: false, accumulate: false },
        { dims, x: xb, w: wb, y },
        rows,
      ),
      y,
      dims,
    };
  }
  let wData = w;
  if (v.transposed === true) {
    wData = new Float32Array(n * k);
    for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) wData[i * n + j] = w[j * k + i]!;
  }
  const code = readFileSync(new URL(`./${v.name}.wgsl`, import.meta.url), "utf8");
  const constants = v.transposed === true ? { K: k, N4: n / 4 } : { K: k, N: n };
  const pipeline = ctx.device.createComputePipeline({
    layout: "auto",
    compute: { module: ctx.device.createShaderModule({ code }), entryPoint: "main", constants },
  });
  const threads = v.threads;
  const op = boundOp(
    ctx,
    v.name,
    pipeline,
    [dims, xb, uploadStorage(ctx, wData, "w"), y],
    rows,
    (r) => Math.ceil(threads(r, n) / 64),
  );
  return { op, y, dims };
}

const choice = (process.argv[2] ?? "gles") as DawnAdapterChoice;
const ctx = await requestDawnGpu({ adapter: choice, warn: () => undefined });
console.log(
  `matmul variants on ${ctx.adapter.device} (${ctx.adapter.description}), ${new Date().toISOString()}`,
);
const rng = new Rng(3);
for (const [rows, k, n] of SHAPES) {
  const x = rng.floats(rows * k);
  const w = rng.floats(n * k);
  const ref = matmulRef(x, w, rows, k, n);
  const line = [`${rows}x${k}x${n}`.padEnd(14)];
  for (const v of VARIANTS) {
    const { op, y } = bind(ctx, v, rows, k, n, x, w);
    const ms = await timeOp(ctx, op, rows, 300);
    const check = allClose(new Float32Array(await readBuffer(ctx, y, rows * n * 4)), ref, {
      atol: 1e-4,
      rtol: 1e-4,
    });
    line.push(
      `${v.name} ${((2 * rows * k * n) / (ms * 1e6)).toFixed(2).padStart(6)} GF/s${check.ok ? "" : " WRONG"}`,
    );
  }
  console.log(line.join(" | "));
}
ctx.destroy();
