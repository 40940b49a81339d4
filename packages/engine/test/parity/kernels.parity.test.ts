// Kernel parity in Node (Dawn): every WGSL kernel against reference.ts on chosen shapes and on a
// randomized-shape sweep (sizes that are not multiples of 4, any GQA ratio, odd head dims), on the llvmpipe
// GLES adapter and on SwiftShader, plus bitwise batch invariance of matmul and attention. The same cases
// run in Chromium in chromium.parity.test.ts.

import { afterAll, describe, expect, it } from "vitest";
import { runKernelCases } from "../support/kernel-cases.ts";
import { runKernelSweep } from "../support/kernel-sweep.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

for (const adapter of ["gles", "swiftshader"] as const) {
  const gpu = await openNodeGpu(adapter);
  describe.skipIf(gpu.ctx === null)(`kernel parity, Node ${adapter} ${gpu.reason}`, () => {
    afterAll(() => gpu.ctx?.destroy());

    it("every kernel matches its reference and is batch-invariant", async () => {
      const ctx = gpu.ctx!;
      const results = await runKernelCases(ctx);
      const failed = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
      expect(failed, `on ${ctx.adapter.device}`).toEqual([]);
      expect(results.length).toBeGreaterThan(30);
      expect(() => ctx.check()).not.toThrow();
    });

    it("a randomized-shape sweep matches the references", async () => {
      const ctx = gpu.ctx!;
      const results = await runKernelSweep(ctx);
      const failed = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
      expect(failed, `on ${ctx.adapter.device}`).toEqual([]);
      expect(results.length).toBeGreaterThanOrEqual(36);
      expect(() => ctx.check()).not.toThrow();
    });
  });
}
