// Kernel parity in Node (Dawn): every WGSL kernel against reference.ts on randomized shapes, on the
// llvmpipe GLES adapter and on SwiftShader, plus bitwise batch invariance of matmul and attention.
// The same cases run in Chromium in chromium-kernels.parity.test.ts.

import { afterAll, describe, expect, it } from "vitest";
import { runKernelCases } from "../support/kernel-cases.ts";
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
  });
}
