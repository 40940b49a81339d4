// Browser entry of the packed-matmul parity cases: opens the asked Chromium WebGPU adapter (the harness's
// openBrowserGpu) and runs packed-kernel-cases.ts, returning plain data. The Chromium test imports this
// module into the harness page, and into a dedicated module worker it starts from the page, by URL, so the
// shared harness needs no registration. Test-only.

import { describeAdapter } from "../../src/gpu/device.ts";
import { openBrowserGpu } from "./harness/harness-api.ts";
import { runPackedKernelCases, type PackedCaseResult } from "./packed-kernel-cases.ts";

export interface PackedKernelReport {
  adapter: string;
  results: PackedCaseResult[];
}

export async function packedKernelReport(
  kind: "core" | "compat",
  randomRounds?: number,
): Promise<PackedKernelReport> {
  const ctx = await openBrowserGpu(kind);
  try {
    const results = await runPackedKernelCases(ctx, undefined, randomRounds);
    ctx.check();
    return { adapter: describeAdapter(ctx.adapter), results };
  } finally {
    ctx.destroy();
  }
}
