// The WebGPU speed test in Node (Dawn, llvmpipe GLES): a positive GFLOP/s with the engine's matmul kernel,
// whose output it checks against the reference (a wrong kernel would throw), and a coded abort.

import { afterAll, describe, expect, it } from "vitest";
import { measureGpuGflops } from "../../src/gpu/speed-test.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const gpu = await openNodeGpu("gles");
describe.skipIf(gpu.ctx === null)(`measureGpuGflops, Node gles ${gpu.reason}`, () => {
  afterAll(() => gpu.ctx?.destroy());

  it("measures the matmul kernel and verifies its output", async () => {
    const gflops = await measureGpuGflops(gpu.ctx!, { k: 256, n: 256, minDurationMs: 20 });
    expect(Number.isFinite(gflops)).toBe(true);
    expect(gflops).toBeGreaterThan(0);
    expect(() => gpu.ctx!.check()).not.toThrow();
  });

  it("rejects with ERR_ABORTED when the signal is aborted", async () => {
    await expect(measureGpuGflops(gpu.ctx!, { signal: AbortSignal.abort() })).rejects.toThrow(
      /ERR_ABORTED/,
    );
  });
});
