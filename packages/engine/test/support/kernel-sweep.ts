// Randomized-shape kernel parity sweep: the cases of kernel-cases.ts on shapes drawn from a seeded Rng —
// reduction lengths and widths of any size (mostly not multiples of 4), any GQA ratio 1-5, even head dims
// 2-48 (rarely powers of two), strided outputs, row counts that leave partial tiles. The shapes appear in
// each result's name, so a failure names the shape to debug with a fixed case. Test-only.

import type { GpuContext } from "../../src/gpu/device.ts";
import {
  attentionCase,
  kvWriteCase,
  matmulCase,
  rmsnormCase,
  ropeCase,
  siluMulCase,
  type KernelCaseResult,
} from "./kernel-cases.ts";
import { Rng } from "./random.ts";

export const SWEEP_SEED = 20260;

/** `rounds` random shapes for each kernel, from `seed`. */
export async function runKernelSweep(
  ctx: GpuContext,
  seed = SWEEP_SEED,
  rounds = 6,
): Promise<KernelCaseResult[]> {
  const shapes = new Rng(seed);
  const data = new Rng(seed + 1);
  const size = (max: number): number => 1 + shapes.int(max);
  const out: KernelCaseResult[] = [];
  const tag = (r: KernelCaseResult, i: number): KernelCaseResult => ({
    ...r,
    name: `sweep ${seed}#${i}: ${r.name}`,
  });
  for (let i = 0; i < rounds; i++) {
    const bias = shapes.int(2) === 1;
    const acc = shapes.int(2) === 1;
    out.push(tag(await matmulCase(ctx, data, size(20), size(160), size(140), bias, acc), i));

    const n = size(200);
    out.push(tag(await rmsnormCase(ctx, data, size(9), n, n + shapes.int(5)), i));

    const m = size(160);
    out.push(tag(await siluMulCase(ctx, data, size(6), m, m + shapes.int(5)), i));

    const kvHeads = size(3);
    const heads = kvHeads * size(5);
    const headDim = 2 * size(24);
    out.push(
      tag(
        await attentionCase(ctx, data, {
          rows: size(4),
          heads,
          kvHeads,
          headDim,
          cells: size(90),
          outStride: heads * headDim + shapes.int(4),
        }),
        i,
      ),
    );

    const pad = { before: shapes.int(6), after: shapes.int(6) };
    out.push(tag(await ropeCase(ctx, data, size(5), size(6), 2 * size(24), pad), i));

    const kvDim = size(70);
    out.push(tag(await kvWriteCase(ctx, data, size(6), kvDim, 6 + shapes.int(40)), i));
  }
  return out;
}
