// WebGPU in Node through the `webgpu` package (Dawn): finds an adapter by itself, preferring a real GPU,
// then Mesa llvmpipe through Dawn's OpenGL ES backend (compatibility mode, EGL_PLATFORM=surfaceless), then
// the SwiftShader Vulkan driver that Debian's Chromium ships. Software adapters are reported as slow; when
// none exists the error is ERR_GPU_UNAVAILABLE. Not used in browsers (see src/gpu/device.ts).

import { existsSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { EngineError } from "../errors.ts";
import {
  describeAdapter,
  openDevice,
  summarizeAdapter,
  type AdapterSummary,
  type GpuContext,
} from "../gpu/device.ts";

/** Which adapter to use: "auto" tries hardware, then gles, then swiftshader. */
export type DawnAdapterChoice = "auto" | "hardware" | "gles" | "swiftshader";

export const DAWN_ADAPTER_CHOICES: readonly DawnAdapterChoice[] = [
  "auto",
  "hardware",
  "gles",
  "swiftshader",
];

/** Vulkan ICD manifests of SwiftShader, in the order they are tried. */
export const SWIFTSHADER_ICDS: readonly string[] = [
  "/usr/lib/chromium/vk_swiftshader_icd.json",
  "/usr/lib/chromium-browser/vk_swiftshader_icd.json",
  "/opt/google/chrome/vk_swiftshader_icd.json",
];

export interface DawnGpuOptions {
  adapter?: DawnAdapterChoice | undefined;
  /** SwiftShader ICD manifest; default the first of SWIFTSHADER_ICDS that exists (main thread only). */
  swiftshaderIcd?: string | undefined;
  /** Where the "software adapter, slow" warning goes. Default console.warn. */
  warn?: ((message: string) => void) | undefined;
}

interface Found {
  adapter: GPUAdapter;
  summary: AdapterSummary;
  instance: GPU;
}

type CreateFn = (options: string[]) => GPU;

/**
 * Adapter kinds found absent in this process. Adapters do not come and go while a process runs, and each
 * failed hardware probe costs ~0.2 s and a Dawn warning on stderr, so "auto" skips known-absent kinds.
 */
const absent = new Set<DawnAdapterChoice>();

async function loadCreate(): Promise<CreateFn> {
  try {
    const mod = (await import("webgpu")) as { create: CreateFn };
    return mod.create;
  } catch (e) {
    throw new EngineError(
      "ERR_GPU_UNAVAILABLE",
      `the "webgpu" package (Dawn for Node) could not be loaded: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Vulkan loader variables that already choose drivers (then SwiftShader is not added). */
const VK_DRIVER_VARS = ["VK_ICD_FILENAMES", "VK_DRIVER_FILES", "VK_ADD_DRIVER_FILES"];

/**
 * Sets, in the real process environment, what Dawn's software backends read when they initialise:
 * EGL_PLATFORM=surfaceless (Mesa EGL without a display, for the GLES backend), VK_ADD_DRIVER_FILES with the
 * SwiftShader ICD (added next to any real Vulkan driver, never replacing one), XDG_RUNTIME_DIR (silences
 * Mesa). Never overrides a value already set. Only the main thread can do this: a worker_thread's
 * process.env is a copy that native code never sees, so call this before spawning workers that open
 * WebGPU (requestDawnGpu calls it too). Returns false in a worker.
 */
export function prepareDawnEnvironment(swiftshaderIcd?: string): boolean {
  if (!isMainThread) return false;
  const env = process.env;
  env["XDG_RUNTIME_DIR"] ??= "/tmp";
  env["EGL_PLATFORM"] ??= "surfaceless";
  const icd = swiftshaderIcd ?? SWIFTSHADER_ICDS.find((p) => existsSync(p));
  if (icd !== undefined && VK_DRIVER_VARS.every((v) => (env[v] ?? "") === "")) {
    env["VK_ADD_DRIVER_FILES"] = icd;
  }
  return true;
}

async function tryHardware(create: CreateFn): Promise<Found | null> {
  const instance = create([]);
  const adapter = await instance.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) return null;
  const summary = summarizeAdapter(adapter, "dawn:default");
  return summary.software ? null : { adapter, summary, instance };
}

async function tryGles(create: CreateFn): Promise<Found | null> {
  // Dawn's GLES backend is compatibility-only; EGL needs EGL_PLATFORM=surfaceless (prepareDawnEnvironment).
  const instance = create(["backend=opengles"]);
  const adapter = await instance.requestAdapter({ featureLevel: "compatibility" });
  if (adapter === null) return null;
  return { adapter, summary: summarizeAdapter(adapter, "dawn:opengles"), instance };
}

async function trySwiftShader(create: CreateFn): Promise<Found | null> {
  // SwiftShader is the Vulkan fallback adapter once its ICD is visible to the loader (prepareDawnEnvironment).
  const instance = create(["backend=vulkan"]);
  const adapter = await instance.requestAdapter({ forceFallbackAdapter: true });
  if (adapter === null) return null;
  return { adapter, summary: summarizeAdapter(adapter, "dawn:swiftshader"), instance };
}

/** The adapter choice named by PIPEMESH_WEBGPU_ADAPTER (tests and benchmarks), else "auto". */
export function dawnAdapterFromEnv(env: NodeJS.ProcessEnv = process.env): DawnAdapterChoice {
  const v = env["PIPEMESH_WEBGPU_ADAPTER"];
  if (v === undefined || v === "") return "auto";
  const choice = DAWN_ADAPTER_CHOICES.find((c) => c === v);
  if (choice === undefined) {
    throw new EngineError(
      "ERR_GPU_ADAPTER",
      `PIPEMESH_WEBGPU_ADAPTER=${v} is not one of ${DAWN_ADAPTER_CHOICES.join(", ")}`,
    );
  }
  return choice;
}

/**
 * Finds a Dawn adapter and opens a device on it. The returned context owns the device and keeps Dawn's
 * instance alive for as long as the context lives.
 */
export async function requestDawnGpu(options: DawnGpuOptions = {}): Promise<GpuContext> {
  const prepared = prepareDawnEnvironment(options.swiftshaderIcd);
  const choice = options.adapter ?? dawnAdapterFromEnv();
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const create = await loadCreate();
  const steps: [DawnAdapterChoice, () => Promise<Found | null>][] = [
    ["hardware", () => tryHardware(create)],
    ["gles", () => tryGles(create)],
    ["swiftshader", () => trySwiftShader(create)],
  ];
  const failures: string[] = [];
  for (const [name, attempt] of steps) {
    if (choice !== "auto" && choice !== name) continue;
    if (choice === "auto" && absent.has(name)) {
      failures.push(`${name}: no adapter`);
      continue;
    }
    let found: Found | null = null;
    try {
      found = await attempt();
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
    if (found === null) {
      absent.add(name);
      if (failures.length === 0 || !failures[failures.length - 1]?.startsWith(name)) {
        failures.push(`${name}: no adapter`);
      }
      continue;
    }
    if (found.summary.software) {
      warn(
        `pipemesh: WebGPU runs on a software adapter (${describeAdapter(found.summary)}); expect slow compute`,
      );
    }
    return openDevice(found.adapter, found.summary, found.instance);
  }
  const workerHint = prepared
    ? ""
    : " In a worker_thread, call prepareDawnEnvironment() in the main thread before spawning it" +
      " (a worker's environment changes never reach native code).";
  throw new EngineError(
    "ERR_GPU_UNAVAILABLE",
    `no WebGPU adapter found in Node (${failures.join("; ")}).${workerHint} Install a GPU driver, or Mesa ` +
      `(apt: libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri) for llvmpipe, or Debian's chromium for ` +
      `SwiftShader; or use the CPU backend`,
  );
}
