// The Chromium side of `npm run bench:engine -- --chromium`: exposes window.bench, which times the kernels
// and decode on a chosen adapter with the very code the Node bench runs.

import { describeAdapter } from "../../src/gpu/device.ts";
import { openBrowserGpu, type BrowserAdapter } from "../../test/support/harness/harness-api.ts";
import { benchDecode, benchKernels, type BenchRow, type DecodeResult } from "../kernel-bench.ts";
import type { RandomModelShape } from "../../test/support/random-model.ts";

async function run(
  kind: BrowserAdapter,
  quick: boolean,
  shape: RandomModelShape,
  steps: number,
): Promise<{ adapter: string; rows: BenchRow[]; decode: DecodeResult }> {
  const ctx = await openBrowserGpu(kind);
  try {
    const rows = await benchKernels(ctx, { quick });
    const decode = await benchDecode(ctx, shape, steps);
    return { adapter: describeAdapter(ctx.adapter), rows, decode };
  } finally {
    ctx.destroy();
  }
}

(globalThis as unknown as { bench: { run: typeof run } }).bench = { run };
document.getElementById("status")!.textContent = "ready";
