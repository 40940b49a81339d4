// The capabilities probe a peer runs before joining a room: which adapter it computes on (description and
// the limits that bound shards), whether that is a software implementation, and a short matmul speed test
// on the shipped WebGPU kernel or the CPU reference (speed-test.ts); plus a default memory budget derived
// from those limits and the host's memory. Browser-safe; Node adds os memory in src/node/memory-budget.ts.

import { borrowDevice, defaultGpu, describeAdapter, GpuContext } from "./device.ts";
import { measureCpuGflops, measureGpuGflops } from "./speed-test.ts";

export type ComputeBackend = "webgpu" | "cpu";

/** Adapter limits a probe reports: the ones that bound buffers, bindings and kernels. */
export const PROBED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

export interface ComputeProbeOptions {
  backend: ComputeBackend;
  /** WebGPU only: the device to probe; default the realm's shared defaultGpu() (never destroyed here). */
  device?: GpuContext | GPUDevice | undefined;
  /** Wall time for the speed test's timed part (default 300 ms; 10 .. 2000). */
  budgetMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ComputeProbe {
  backend: ComputeBackend;
  adapter: { description: string; limits: Record<string, number> };
  /** Matmul GFLOP/s on this backend: rough, for ranking peers (the planner uses ratios). */
  matmulGflops: number;
  /** The compute runs on the CPU: the CPU backend, or a software WebGPU adapter (SwiftShader, llvmpipe). */
  isSoftware: boolean;
}

export const DEFAULT_PROBE_BUDGET_MS = 300;

const CPU_DESCRIPTION = "CPU (TypeScript reference kernels)";

/** budgetMs clamped to 10 .. 2000 (the default when it is not a number). */
function budgetOf(options: ComputeProbeOptions): number {
  const ms = options.budgetMs ?? DEFAULT_PROBE_BUDGET_MS;
  return Number.isFinite(ms) ? Math.min(2000, Math.max(10, ms)) : DEFAULT_PROBE_BUDGET_MS;
}

/** The PROBED_LIMITS of a device, as plain numbers. */
export function probedLimits(limits: GPUSupportedLimits): Record<string, number> {
  const all = limits as unknown as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const name of PROBED_LIMITS) {
    const v = all[name];
    if (typeof v === "number" && Number.isFinite(v)) out[name] = v;
  }
  return out;
}

async function gpuContext(device: ComputeProbeOptions["device"]): Promise<GpuContext> {
  if (device === undefined) return defaultGpu();
  return device instanceof GpuContext ? device : borrowDevice(device);
}

/**
 * Probes the backend a peer would compute on. WebGPU: the adapter (ERR_GPU_UNAVAILABLE when there is
 * none), its limits, and the shipped matmul kernel's speed (its output is checked against the reference,
 * so an adapter that computes garbage fails with ERR_INTERNAL). CPU: the reference matmul's speed on this
 * thread. The timed part takes about budgetMs (half of it on WebGPU, where pipeline compilation and the
 * readback come on top).
 */
export async function probeCompute(options: ComputeProbeOptions): Promise<ComputeProbe> {
  const budgetMs = budgetOf(options);
  const { signal } = options;
  if (options.backend === "cpu") {
    const matmulGflops = measureCpuGflops({
      k: 256,
      n: 256,
      minDurationMs: budgetMs,
      maxRounds: Number.POSITIVE_INFINITY,
      signal,
    });
    return {
      backend: "cpu",
      adapter: { description: CPU_DESCRIPTION, limits: {} },
      matmulGflops,
      isSoftware: true,
    };
  }
  const ctx = await gpuContext(options.device);
  ctx.check();
  const matmulGflops = await measureGpuGflops(ctx, {
    minDurationMs: budgetMs / 2,
    maxRounds: Number.POSITIVE_INFINITY,
    signal,
  });
  return {
    backend: "webgpu",
    adapter: { description: describeAdapter(ctx.adapter), limits: probedLimits(ctx.limits) },
    matmulGflops,
    isSoftware: ctx.adapter.software,
  };
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** What is known of the host's memory. */
export interface HostMemory {
  totalBytes?: number | undefined;
  /** Currently free (Node's os.freemem()); unknown in browsers. */
  freeBytes?: number | undefined;
  /** The whole machine serves the mesh (a Node peer) rather than one browser tab: no per-tab caps. */
  dedicated?: boolean | undefined;
}

/** navigator.deviceMemory (GiB, rounded down and capped at 8 by browsers) when the browser exposes it. */
function browserHostMemory(): HostMemory {
  const nav = (globalThis as { navigator?: { deviceMemory?: unknown } }).navigator;
  const gib = nav?.deviceMemory;
  return typeof gib === "number" && gib > 0 ? { totalBytes: gib * GiB } : {};
}

/**
 * A default budget for weights + KV cache (the user may override it). WebGPU exposes no memory size, so
 * on a hardware adapter it is twice maxBufferSize, within 256 MiB .. 4 GiB (16 GiB for a dedicated
 * machine); a software adapter or the CPU backend computes in host memory, capped at 2 GiB in a tab.
 * Weights pass through host memory while they load, so the budget is also at most a share of the host's:
 * min(total / 2, 3/4 of free) when free memory is known, else a quarter of the total (a tab's share);
 * 1 GiB when nothing bounds it. `host` defaults to navigator.deviceMemory.
 */
export function defaultMemoryBudgetBytes(
  probe: ComputeProbe,
  host: HostMemory = browserHostMemory(),
): number {
  const dedicated = host.dedicated === true;
  let device = dedicated ? Infinity : 2 * GiB;
  if (probe.backend === "webgpu" && !probe.isSoftware) {
    const maxBuffer = probe.adapter.limits["maxBufferSize"] ?? 256 * MiB;
    device = Math.min(Math.max(2 * maxBuffer, 256 * MiB), dedicated ? 16 * GiB : 4 * GiB);
  }
  const { totalBytes, freeBytes } = host;
  let hostShare = Infinity;
  if (totalBytes !== undefined && freeBytes !== undefined) {
    hostShare = Math.min(totalBytes / 2, (freeBytes * 3) / 4);
  } else if (totalBytes !== undefined) {
    hostShare = totalBytes / 4;
  }
  const budget = Math.min(device, hostShare);
  return Math.max(0, Math.floor(Number.isFinite(budget) ? budget : GiB));
}
