// loadLayerShard: from a ShardSpec to a running LayerShard. Reads config.json, loads only the tensors of
// the shard's layer range (plus embeddings / norm + head by role) and builds the CPU or WebGPU backend.
// The WebGPU backend is imported lazily so CPU-only users never load GPU code. Every shard's runs check
// their outputs for NaN and infinity (check-finite.ts).

import type { ModelConfig } from "../config.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import {
  loadShardWeights,
  streamShardWeights,
  type LoadProgress,
  type WeightConsumer,
} from "../loader/load-weights.ts";
import { loadModelConfig, openUrlModelDir } from "../loader/model-files.ts";
import type { LayerShard } from "./batch.ts";
import { withFiniteOutputs } from "./check-finite.ts";
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

type FeedFactory = (
  config: ModelConfig,
  spec: ShardSpec,
  device: unknown,
  feed: (consumer: WeightConsumer) => Promise<void>,
) => Promise<LayerShard>;

async function webGpuFactory(): Promise<FeedFactory> {
  try {
    // A template literal keeps tsc and Vite from requiring the module to exist before the WebGPU backend
    // lands; Vite still bundles it (dynamic-import-vars). Switch to a literal once it is in the tree.
    const name = "create-webgpu-shard";
    const mod = (await import(`../webgpu/${name}.ts`)) as {
      createWebGpuShardFromFeed?: FeedFactory;
    };
    if (typeof mod.createWebGpuShardFromFeed !== "function")
      throw new Error("createWebGpuShardFromFeed is missing");
    return mod.createWebGpuShardFromFeed;
  } catch (e) {
    if (isEngineError(e)) throw e;
    throw new EngineError(
      "ERR_GPU_UNAVAILABLE",
      `the WebGPU backend could not be loaded (${(e as Error).message}); use backend "cpu"`,
      { cause: e },
    );
  }
}

/**
 * Loads one shard: config, the shard's tensors only, then the backend. The WebGPU backend uploads each
 * layer as it arrives, so host memory holds at most one layer's tensors beyond what is on the device.
 */
export async function loadLayerShard(
  spec: ShardSpec,
  options: LoadShardOptions = {},
): Promise<LayerShard> {
  const { signal } = options;
  const dir = (options.openDir ?? openUrlModelDir)(spec.model);
  const config = options.config ?? (await loadModelConfig(dir, signal));
  const loadOptions = { signal, onProgress: options.onProgress };
  if (spec.backend === "webgpu") {
    const factory = await webGpuFactory();
    return withFiniteOutputs(
      await factory(config, spec, options.device, (consumer) =>
        streamShardWeights(dir, config, spec, consumer, loadOptions),
      ),
    );
  }
  const weights = await loadShardWeights(dir, config, spec, loadOptions);
  const args: ShardFactoryArgs = { config, weights, spec };
  return withFiniteOutputs(await createCpuShard(args));
}

/** ShardSpecs that split a model of numLayers into `count` contiguous shards (see splitLayers). */
export function splitShardSpecs(
  base: Omit<ShardSpec, "layerStart" | "layerEnd" | "embeds" | "tail">,
  numLayers: number,
  count: number,
  boundaries?: readonly number[],
): ShardSpec[] {
  return splitLayers(numLayers, count, boundaries).map((r) => ({ ...base, ...r }));
}
