// The capabilities probe on WebGPU in Node (Dawn): the adapter's description and the limits that bound
// shards, software detection, the shipped matmul kernel's speed (checked against the reference inside the
// speed test), the realm's default device when none is given, a coded abort, and a budget from the limits.

import { afterAll, describe, expect, it } from "vitest";
import {
  defaultMemoryBudgetBytes,
  PROBED_LIMITS,
  probeCompute,
} from "../../src/gpu/probe-compute.ts";
import { measureGpuGflops } from "../../src/gpu/speed-test.ts";
import { defaultNodeMemoryBudgetBytes } from "../../src/node/memory-budget.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const gpu = await openNodeGpu("gles");

describe.skipIf(gpu.ctx === null)(`probeCompute (webgpu), Node gles ${gpu.reason}`, () => {
  afterAll(() => gpu.ctx?.destroy());

  it("reports the adapter, its limits, software and a matmul speed", async () => {
    const ctx = gpu.ctx!;
    const probe = await probeCompute({ backend: "webgpu", device: ctx, budgetMs: 60 });
    expect(probe.backend).toBe("webgpu");
    expect(probe.adapter.description).toMatch(/llvmpipe/i);
    expect(probe.isSoftware).toBe(true);
    expect(Object.keys(probe.adapter.limits).sort()).toEqual([...PROBED_LIMITS].sort());
    expect(probe.adapter.limits["maxBufferSize"]).toBe(ctx.limits.maxBufferSize);
    expect(probe.matmulGflops).toBeGreaterThan(0);
    expect(Number.isFinite(probe.matmulGflops)).toBe(true);
    // A software adapter computes in host memory: bounded by the machine, not by 2 x maxBufferSize.
    const budget = defaultNodeMemoryBudgetBytes(probe);
    expect(budget).toBeGreaterThan(0);
    expect(defaultMemoryBudgetBytes(probe, {})).toBe(2 ** 31);
    expect(() => ctx.check()).not.toThrow();
  });

  it("uses the realm's default device when none is given", async () => {
    const probe = await probeCompute({ backend: "webgpu", budgetMs: 20 });
    expect(probe.backend).toBe("webgpu");
    expect(probe.adapter.limits["maxStorageBufferBindingSize"]).toBeGreaterThan(0);
    expect(probe.matmulGflops).toBeGreaterThan(0);
  });

  it("the speed test takes any matmul shape (its output is checked against the reference)", async () => {
    const gflops = await measureGpuGflops(gpu.ctx!, { rows: 3, k: 77, n: 50, minDurationMs: 5 });
    expect(gflops).toBeGreaterThan(0);
  });

  it("rejects with ERR_ABORTED when the signal is aborted", async () => {
    await expect(
      probeCompute({ backend: "webgpu", device: gpu.ctx!, signal: AbortSignal.abort() }),
    ).rejects.toThrow(/ERR_ABORTED/);
  });
});
