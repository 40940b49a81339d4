// The CPU speed test the contribute page and edge peers report as matmulGflops: a positive, finite
// number from a short run, and a coded abort.

import { describe, expect, it } from "vitest";
import { measureCpuGflops } from "../../src/gpu/speed-test.ts";

describe("measureCpuGflops", () => {
  it("reports a positive finite GFLOP/s from a short run", () => {
    const t0 = performance.now();
    const gflops = measureCpuGflops({ k: 128, n: 128, minDurationMs: 20 });
    expect(Number.isFinite(gflops)).toBe(true);
    expect(gflops).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("throws ERR_ABORTED when the signal is aborted", () => {
    const signal = AbortSignal.abort();
    expect(() => measureCpuGflops({ signal })).toThrow(/ERR_ABORTED/);
  });
});
