// PipelineCache: one compute pipeline per (kernel source, override constants), created once per device and
// shared by every op bound from it. Shader modules are cached per source. Not a bind-group cache: bound
// ops own their bind groups.
// Every kernel wrapper imports this file, so this reference brings the `*.wgsl?raw` module type into any
// program that includes a wrapper (e.g. apps/cli, whose tsconfig does not include the engine's env.d.ts).
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- env.d.ts is a global script, not importable
/// <reference path="../env.d.ts" />

import type { GpuContext } from "./device.ts";

export type OverrideConstants = Record<string, number>;

export class PipelineCache {
  readonly #ctx: GpuContext;
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #pipelines = new Map<string, GPUComputePipeline>();

  constructor(ctx: GpuContext) {
    this.#ctx = ctx;
  }

  /** The pipeline of `code` specialised with `constants` (entry point `main`). */
  get(label: string, code: string, constants: OverrideConstants): GPUComputePipeline {
    const keys = Object.keys(constants).sort();
    const key = `${label}|${keys.map((k) => `${k}=${constants[k]}`).join(",")}`;
    const hit = this.#pipelines.get(key);
    if (hit !== undefined) return hit;
    let module = this.#modules.get(label);
    if (module === undefined) {
      module = this.#ctx.device.createShaderModule({ label, code });
      this.#modules.set(label, module);
    }
    const pipeline = this.#ctx.device.createComputePipeline({
      label: key,
      layout: "auto",
      compute: { module, entryPoint: "main", constants },
    });
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  get size(): number {
    return this.#pipelines.size;
  }
}

/** The context's pipeline cache (one per GpuContext, created on first use). */
const caches = new WeakMap<GpuContext, PipelineCache>();

export function pipelineCache(ctx: GpuContext): PipelineCache {
  let cache = caches.get(ctx);
  if (cache === undefined) {
    cache = new PipelineCache(ctx);
    caches.set(ctx, cache);
  }
  return cache;
}
