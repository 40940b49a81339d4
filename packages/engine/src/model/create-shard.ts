// loadLayerShard: from a ShardSpec to a running LayerShard. Reads config.json, loads only the tensors of
// the shard's layer range (plus embeddings / norm + head by role) and builds the CPU or WebGPU backend.
// The WebGPU backend is imported lazily so CPU-only users never load GPU code.

import type { ModelConfig } from "../config.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { loadShardWeights, type LoadProgress } from "../loader/load-weights.ts";
import { loadModelConfig, openUrlModelDir } from "../loader/model-files.ts";
import type { LayerShard } from "./batch.ts";
import { createCpuShard } from "./cpu-shard.ts";
import { splitLayers, type ShardFactoryArgs, type ShardSpec } from "./shard-spec.ts";

export interface LoadShardOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
  /**
   * Opens spec.model as a model directory. Default: an http(s) URL (relative to the page in a browser).
   * Node callers pass openModelDir from @pipemesh/engine/node to allow file system paths.
   */
  openDir?: ((location: string) => ModelDir) | undefined;
  /** An already parsed config (skips reading config.json). */
  config?: ModelConfig | undefined;
  /** The GPUDevice for the WebGPU backend (default: the backend requests its own). */
  device?: unknown;
}

type ShardFactory = (args: ShardFactoryArgs) => Promise<LayerShard>;

async function webGpuFactory(): Promise<ShardFactory> {
  try {
    // A template literal keeps tsc and Vite from requiring the module to exist before the WebGPU backend
    // lands; Vite still bundles it (dynamic-import-vars). Switch to a literal once it is in the tree.
    const name = "create-webgpu-shard";
    const mod = (await import(`../webgpu/${name}.ts`)) as {
      createWebGpuShard?: ShardFactory;
    };
    if (typeof mod.createWebGpuShard !== "function")
      throw new Error("createWebGpuShard is missing");
    return mod.createWebGpuShard;
  } catch (e) {
    if (isEngineError(e)) throw e;
    throw new EngineError(
      "ERR_GPU_UNAVAILABLE",
      `the WebGPU backend could not be loaded (${(e as Error).message}); use backend "cpu"`,
      { cause: e },
    );
  }
}

/** Loads one shard: config, the shard's tensors only, then the backend. */
export async function loadLayerShard(
  spec: ShardSpec,
  options: LoadShardOptions = {},
): Promise<LayerShard> {
  const { signal } = options;
  const dir = (options.openDir ?? openUrlModelDir)(spec.model);
  const config = options.config ?? (await loadModelConfig(dir, signal));
  const weights = await loadShardWeights(dir, config, spec, {
    signal,
    onProgress: options.onProgress,
  });
  const factory = spec.backend === "webgpu" ? await webGpuFactory() : createCpuShard;
  const args: ShardFactoryArgs =
    options.device === undefined
      ? { config, weights, spec }
      : { config, weights, spec, device: options.device };
  return factory(args);
}

/** ShardSpecs that split a model of numLayers into `count` contiguous shards (see splitLayers). */
export function splitShardSpecs(
  base: Omit<ShardSpec, "layerStart" | "layerEnd" | "embeds" | "head">,
  numLayers: number,
  count: number,
  boundaries?: readonly number[],
): ShardSpec[] {
  return splitLayers(numLayers, count, boundaries).map((r) => ({ ...base, ...r }));
}
