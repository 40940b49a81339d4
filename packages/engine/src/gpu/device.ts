// WebGPU device acquisition shared by the browser, workers and Node: adapter choice (a real GPU first, then
// a non-fallback compatibility adapter such as llvmpipe, then a fallback adapter such as SwiftShader),
// required limits taken from the adapter, and device-loss / uncaptured-error tracking in GpuContext.
// Node's adapter discovery (Dawn backends, environment variables) lives in src/node/dawn.ts, loaded lazily.

import { EngineError } from "../errors.ts";

/** What a shard reports about its adapter (ShardInfo.adapter is describeAdapter() of this). */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  featureLevel: "core" | "compatibility";
  /** A CPU implementation (SwiftShader, llvmpipe, lavapipe, WARP): expect slow compute. */
  software: boolean;
  /** How it was found, e.g. "navigator.gpu", "dawn:opengles". */
  source: string;
}

const SOFTWARE_NAME = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

/** Limits a compute-only engine needs raised above the (small) compatibility-mode defaults. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupStorageSize",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxBindingsPerBindGroup",
] as const;

export function summarizeAdapter(adapter: GPUAdapter, source: string): AdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = adapter as GPUAdapter & { isFallbackAdapter?: boolean };
  const isFallback = info.isFallbackAdapter ?? legacy.isFallbackAdapter ?? false;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallback,
    featureLevel: adapter.features.has("core-features-and-limits") ? "core" : "compatibility",
    software: isFallback || SOFTWARE_NAME.test(text),
    source,
  };
}

/** One line for logs and ShardInfo.adapter, e.g. "llvmpipe-llvm-15 (OpenGL ES 3.2 Mesa), compat, software". */
export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.device].filter((s) => s !== "").join(" ") || "adapter";
  const desc = a.description === "" ? "" : ` (${a.description})`;
  const flags = [
    a.featureLevel === "core" ? "core" : "compat",
    a.isFallback ? "fallback" : "",
    a.software ? "software" : "",
    a.source,
  ].filter((s) => s !== "");
  return `${name}${desc}, ${flags.join(", ")}`;
}

/**
 * Picks an adapter from `gpu`: a core, non-fallback one if there is one; else a non-fallback compatibility
 * adapter (Chromium's GLES path on llvmpipe, ~4x faster than SwiftShader); else any fallback adapter.
 */
export async function pickAdapter(
  gpu: GPU,
  source: string,
): Promise<{ adapter: GPUAdapter; summary: AdapterSummary } | null> {
  const tried: { adapter: GPUAdapter; summary: AdapterSummary }[] = [];
  const core = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (core !== null) tried.push({ adapter: core, summary: summarizeAdapter(core, source) });
  if (tried[0]?.summary.isFallback === false) return tried[0];
  const compat = await gpu.requestAdapter({ featureLevel: "compatibility" });
  if (compat !== null) tried.push({ adapter: compat, summary: summarizeAdapter(compat, source) });
  return tried.find((t) => !t.summary.isFallback) ?? tried[0] ?? null;
}

type Listener = (err: EngineError) => void;

/**
 * A device plus what the engine tracks about it: the adapter summary, device loss (ERR_GPU_LOST) and the
 * first uncaptured error. `owned` contexts destroy their device in destroy(); borrowed ones never do.
 */
export class GpuContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly limits: GPUSupportedLimits;
  readonly #owned: boolean;
  // Keeps the object that created the device (Dawn's GPU instance in Node) reachable: if it is garbage
  // collected while the device lives, dawn.node frees the instance and later crashes in ProcessEvents.
  readonly #keepAlive: unknown;
  #lost: EngineError | null = null;
  #error: EngineError | null = null;
  #destroyed = false;
  readonly #listeners = new Set<Listener>();

  constructor(
    device: GPUDevice,
    adapter: AdapterSummary,
    opts: { owned: boolean; keepAlive?: unknown },
  ) {
    this.device = device;
    this.adapter = adapter;
    this.limits = device.limits;
    this.#owned = opts.owned;
    this.#keepAlive = opts.keepAlive;
    device.lost.then(
      (info) => {
        if (this.#destroyed) return;
        this.#lost = new EngineError(
          "ERR_GPU_LOST",
          `the GPU device was lost (${info.reason}): ${info.message || "no message"}`,
        );
        for (const l of this.#listeners) l(this.#lost);
      },
      () => undefined,
    );
    device.addEventListener("uncapturederror", (ev) => {
      const e = ev.error;
      this.#error ??= new EngineError("ERR_INTERNAL", `uncaptured WebGPU error: ${e.message}`);
    });
  }

  /** Whether the device is usable: throws ERR_GPU_LOST, ERR_DESTROYED, or the first uncaptured error. */
  check(): void {
    if (this.#lost !== null) throw this.#lost;
    if (this.#destroyed) throw new EngineError("ERR_DESTROYED", "the GPU context was destroyed");
    const e = this.#error;
    if (e !== null) {
      this.#error = null;
      throw e;
    }
  }

  get lost(): EngineError | null {
    return this.#lost;
  }

  /** Called once if the device is lost (not when destroy() ends it). Returns an unsubscribe function. */
  onLost(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Idempotent; destroys the device only if this context owns it. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#listeners.clear();
    if (this.#owned) this.device.destroy();
    void this.#keepAlive;
  }
}

/** Opens a device on `adapter` with every compute limit the adapter offers. */
export async function openDevice(
  adapter: GPUAdapter,
  summary: AdapterSummary,
  keepAlive?: unknown,
): Promise<GpuContext> {
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number | undefined>;
  for (const name of WANTED_LIMITS) {
    const v = limits[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: "pipemesh" });
  } catch (e) {
    throw new EngineError(
      "ERR_GPU_ADAPTER",
      `requestDevice failed on ${describeAdapter(summary)}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return new GpuContext(device, summary, { owned: true, keepAlive });
}

/** Wraps a device the caller owns (never destroyed by the engine). */
export function borrowDevice(device: GPUDevice): GpuContext {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const text = info === undefined ? "" : `${info.vendor} ${info.architecture} ${info.device}`;
  const summary: AdapterSummary = {
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    device: info?.device ?? "",
    description: info?.description ?? "device given by the caller",
    isFallback: false,
    featureLevel: device.features.has("core-features-and-limits") ? "core" : "compatibility",
    software: SOFTWARE_NAME.test(text),
    source: "caller",
  };
  return new GpuContext(device, summary, { owned: false });
}

let shared: Promise<GpuContext> | undefined;

/**
 * The realm's default GpuContext, shared by every shard created without a device: one device per page,
 * worker or Node process (the WebGPU norm), so pipelines compile once however many shards come and go.
 * Created on first use and again after a device loss; never destroyed by the shards that borrow it (a live
 * idle device does not keep Node from exiting). The one piece of module state in the engine's GPU code.
 */
export async function defaultGpu(options: RequestGpuOptions = {}): Promise<GpuContext> {
  const current = shared;
  if (current !== undefined) {
    const ctx = await current.catch(() => undefined);
    if (ctx !== undefined && ctx.lost === null) return ctx;
    if (shared !== current) return defaultGpu(options); // another caller already replaced it
  }
  const next = requestGpu(options);
  shared = next;
  next.catch(() => {
    if (shared === next) shared = undefined;
  });
  return next;
}

/** Options for requestGpu. */
export interface RequestGpuOptions {
  /** A GPU object to use instead of navigator.gpu (browser) or Dawn (Node). */
  gpu?: GPU | undefined;
  /** Where warnings go (software adapter in use). Default console.warn. */
  warn?: ((message: string) => void) | undefined;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

/**
 * Returns an owned GpuContext: from `gpu`, else navigator.gpu (browsers, workers), else Dawn in Node
 * (src/node/dawn.ts). Throws ERR_GPU_UNAVAILABLE when no adapter exists; warns when it is software.
 */
export async function requestGpu(options: RequestGpuOptions = {}): Promise<GpuContext> {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const gpu = options.gpu ?? nav?.gpu;
  if (gpu === undefined && isNode()) {
    // Not bundled for browsers: the specifier is computed, and src/node is excluded from their tsconfig.
    const path = "../node/dawn.ts";
    const dawn = (await import(/* @vite-ignore */ path)) as {
      requestDawnGpu: (o: { warn: (m: string) => void }) => Promise<GpuContext>;
    };
    return dawn.requestDawnGpu({ warn });
  }
  if (gpu === undefined) {
    throw new EngineError(
      "ERR_GPU_UNAVAILABLE",
      "this browser has no WebGPU (navigator.gpu is missing); use a recent Chromium, or the CPU backend",
    );
  }
  const picked = await pickAdapter(gpu, "navigator.gpu");
  if (picked === null) {
    throw new EngineError(
      "ERR_GPU_UNAVAILABLE",
      "no WebGPU adapter (requestAdapter returned null for core and compatibility); in headless " +
        "Chromium add --enable-unsafe-webgpu, or use the CPU backend",
    );
  }
  if (picked.summary.software) {
    warn(
      `pipemesh: WebGPU runs on a software adapter (${describeAdapter(picked.summary)}); expect slow compute`,
    );
  }
  return openDevice(picked.adapter, picked.summary, gpu);
}
