// The capabilities probe on the CPU backend (a short reference-matmul speed test, coded abort) and the
// default memory budget rules: WebGPU bounds from maxBufferSize, tab caps, host-memory shares, Node's
// dedicated machine. The WebGPU probe itself runs in test/parity/probe-compute.parity.test.ts.

import { totalmem } from "node:os";
import { describe, expect, it } from "vitest";
import {
  defaultMemoryBudgetBytes,
  probeCompute,
  type ComputeProbe,
} from "../../src/gpu/probe-compute.ts";
import { defaultNodeMemoryBudgetBytes } from "../../src/node/memory-budget.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function gpuProbe(maxBufferSize: number, isSoftware = false): ComputeProbe {
  return {
    backend: "webgpu",
    adapter: { description: "test adapter", limits: { maxBufferSize } },
    matmulGflops: 1,
    isSoftware,
  };
}

const cpuProbe: ComputeProbe = {
  backend: "cpu",
  adapter: { description: "cpu", limits: {} },
  matmulGflops: 1,
  isSoftware: true,
};

describe("probeCompute (cpu)", () => {
  it("measures the reference matmul and describes the CPU backend", async () => {
    const t0 = performance.now();
    const probe = await probeCompute({ backend: "cpu", budgetMs: 30 });
    expect(probe.backend).toBe("cpu");
    expect(probe.isSoftware).toBe(true);
    expect(probe.adapter.limits).toEqual({});
    expect(probe.adapter.description).toMatch(/CPU/);
    expect(Number.isFinite(probe.matmulGflops)).toBe(true);
    expect(probe.matmulGflops).toBeGreaterThan(0);
    // Bounded by its budget, not by the problem size (a loose bound: CI machines are noisy).
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("rejects with ERR_ABORTED when the signal is aborted", async () => {
    await expect(probeCompute({ backend: "cpu", signal: AbortSignal.abort() })).rejects.toThrow(
      /ERR_ABORTED/,
    );
  });
});

describe("defaultMemoryBudgetBytes", () => {
  it("gives a hardware adapter twice its largest buffer, within 256 MiB .. 4 GiB in a tab", () => {
    expect(defaultMemoryBudgetBytes(gpuProbe(GiB), {})).toBe(2 * GiB);
    expect(defaultMemoryBudgetBytes(gpuProbe(4 * GiB), {})).toBe(4 * GiB);
    expect(defaultMemoryBudgetBytes(gpuProbe(64 * MiB), {})).toBe(256 * MiB);
    // No maxBufferSize reported: the WebGPU default (256 MiB), doubled.
    const bare = { ...gpuProbe(0), adapter: { description: "x", limits: {} } };
    expect(defaultMemoryBudgetBytes(bare, {})).toBe(512 * MiB);
  });

  it("caps a tab's CPU or software-adapter budget at 2 GiB and at a quarter of the device's memory", () => {
    expect(defaultMemoryBudgetBytes(cpuProbe, {})).toBe(2 * GiB);
    expect(defaultMemoryBudgetBytes(gpuProbe(4 * GiB, true), {})).toBe(2 * GiB);
    expect(defaultMemoryBudgetBytes(cpuProbe, { totalBytes: 4 * GiB })).toBe(GiB);
    expect(defaultMemoryBudgetBytes(gpuProbe(2 * GiB), { totalBytes: 8 * GiB })).toBe(2 * GiB);
  });

  it("on a dedicated machine, takes min(total / 2, 3/4 of free) and drops the tab caps", () => {
    const host = { totalBytes: 64 * GiB, freeBytes: 8 * GiB, dedicated: true };
    expect(defaultMemoryBudgetBytes(cpuProbe, host)).toBe(6 * GiB);
    expect(
      defaultMemoryBudgetBytes(cpuProbe, {
        totalBytes: 16 * GiB,
        freeBytes: 15 * GiB,
        dedicated: true,
      }),
    ).toBe(8 * GiB);
    // A hardware adapter is still bounded by its buffers (up to 16 GiB on a dedicated machine).
    const big = { totalBytes: 256 * GiB, freeBytes: 200 * GiB, dedicated: true };
    expect(defaultMemoryBudgetBytes(gpuProbe(4 * GiB), big)).toBe(8 * GiB);
    expect(defaultMemoryBudgetBytes(gpuProbe(64 * GiB), big)).toBe(16 * GiB);
    // Nothing known at all: 1 GiB.
    expect(defaultMemoryBudgetBytes(cpuProbe, { dedicated: true })).toBe(GiB);
  });

  it("defaultNodeMemoryBudgetBytes uses the machine's memory", () => {
    expect(
      defaultNodeMemoryBudgetBytes(cpuProbe, { totalBytes: 32 * GiB, freeBytes: 4 * GiB }),
    ).toBe(3 * GiB);
    const here = defaultNodeMemoryBudgetBytes(cpuProbe);
    expect(here).toBeGreaterThan(0);
    expect(here).toBeLessThanOrEqual(totalmem() / 2);
  });
});
