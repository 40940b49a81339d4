// What the parity harness can run in a Chromium page or dedicated worker: kernel parity cases and greedy
// decoding of a fixture model on a chosen WebGPU adapter. Plain data in, plain data out, so results cross
// page.evaluate and postMessage unchanged. Test-only.

import {
  describeAdapter,
  openDevice,
  requestGpu,
  summarizeAdapter,
  type GpuContext,
} from "../../../src/gpu/device.ts";
import type { LayerShard } from "../../../src/model/batch.ts";
import { loadLayerShard } from "../../../src/model/create-shard.ts";
import { greedyGenerate, runPipeline } from "../../suites/pipeline.ts";
import { runKernelCases, type KernelCaseResult } from "../kernel-cases.ts";
import { runKernelSweep } from "../kernel-sweep.ts";

/** "auto": the engine's own choice; "core": plain requestAdapter() (SwiftShader here); "compat": llvmpipe. */
export type BrowserAdapter = "auto" | "core" | "compat";

export async function openBrowserGpu(kind: BrowserAdapter): Promise<GpuContext> {
  if (kind === "auto") return requestGpu({ warn: () => undefined });
  const gpu = navigator.gpu;
  const adapter =
    kind === "core"
      ? await gpu.requestAdapter()
      : await gpu.requestAdapter({ featureLevel: "compatibility" });
  if (adapter === null) throw new Error(`no ${kind} WebGPU adapter in this browser`);
  return openDevice(adapter, summarizeAdapter(adapter, `navigator.gpu ${kind}`), gpu);
}

export interface KernelReport {
  adapter: string;
  results: KernelCaseResult[];
}

export interface KernelRequest {
  kind: BrowserAdapter;
  /** Also run the randomized-shape sweep (kernel-sweep.ts). */
  sweep: boolean;
}

export async function kernelCases(req: KernelRequest): Promise<KernelReport> {
  const ctx = await openBrowserGpu(req.kind);
  try {
    const results = await runKernelCases(ctx);
    if (req.sweep) results.push(...(await runKernelSweep(ctx)));
    ctx.check();
    return { adapter: describeAdapter(ctx.adapter), results };
  } finally {
    ctx.destroy();
  }
}

export interface ModelRequest {
  kind: BrowserAdapter;
  /** Model directory URL (the fixture under /@fs/). */
  model: string;
  numLayers: number;
  prompt: number[];
  steps: number;
}

export interface ModelReport {
  adapter: string;
  greedy: number[];
  /** [prompt, vocab] logits of the prompt run. */
  logits: number[];
}

export async function modelGreedy(req: ModelRequest): Promise<ModelReport> {
  const ctx = await openBrowserGpu(req.kind);
  const shards: LayerShard[] = [];
  try {
    const spec = {
      model: req.model,
      layerStart: 0,
      layerEnd: req.numLayers,
      embeds: true,
      tail: true,
      backend: "webgpu" as const,
      kvCells: 64,
    };
    const open = async (): Promise<LayerShard> => {
      const s = await loadLayerShard(spec, { device: ctx });
      shards.push(s);
      return s;
    };
    const all = req.prompt.map((_, i) => i);
    const prompt = await runPipeline([await open()], {
      tokens: req.prompt,
      positions: all,
      logitsRows: all,
    });
    const logits = prompt.outputs.flatMap((o) => Array.from(o.logits ?? []));
    const greedy = await greedyGenerate([await open()], req.prompt, req.steps);
    return { adapter: shards[0]?.info.adapter ?? "", greedy, logits };
  } finally {
    for (const s of shards) await s.destroy();
    ctx.destroy();
  }
}

export const HARNESS_API = { kernelCases, modelGreedy };
export type HarnessApi = typeof HARNESS_API;
export type HarnessCall = {
  [K in keyof HarnessApi]: { fn: K; arg: Parameters<HarnessApi[K]>[0] };
}[keyof HarnessApi];
