// The mesh's LoadStage for a browser tab (a contributor's layers, a head's embeddings): one engine shard
// in a Web Worker per assignment, WebGPU or CPU backend, its K/V sized by @pipemesh/head's kvSizing for
// the plan's context (else the given cap). A plan that names where its model lives (a URL, a Hub file)
// is read from there; otherwise the model id is resolved by the caller.

import {
  createBrowserShardClient,
  loadModelConfig,
  openUrlModelDir,
  type LoadProgress,
  type ModelConfig,
  type ShardBackend,
  type ShardClient,
} from "@pipemesh/engine";
import { MeshError, type LoadedStage, type LoadStage, type StageLoadSpec } from "@pipemesh/mesh";
import { HeadError } from "../errors.ts";
import { kvSizing } from "../kv-sizing.ts";
import type { ModelSource } from "./model-source.ts";

export interface BrowserStageLoaderOptions {
  /** The files of the plan's model id. */
  resolve: (modelId: string, signal: AbortSignal) => Promise<ModelSource>;
  /** Backend for a spec (a head's embeddings-only shard is fine on the CPU). */
  backend: (spec: StageLoadSpec) => ShardBackend;
  /** Cap on the context when the plan names none. */
  contextCap?: number | undefined;
  /** Reads the target's config (default: its config.json, failures coded ERR_MODEL_LOAD). */
  loadConfig?: (source: ModelSource, signal: AbortSignal) => Promise<ModelConfig>;
  /** Told about each shard once it is loaded (adapter, bytes). */
  onLoaded?: (shard: ShardClient, spec: StageLoadSpec) => void;
  /** Told the bytes loaded so far, for progress with a rate and the time left. */
  onBytes?: (spec: StageLoadSpec, p: LoadProgress) => void;
}

async function targetConfig(source: ModelSource, signal: AbortSignal): Promise<ModelConfig> {
  try {
    return await loadModelConfig(openUrlModelDir(source.targetUrl), signal);
  } catch (e) {
    throw new HeadError(
      "ERR_MODEL_LOAD",
      `the model "${source.id}" has no usable config.json at ${source.targetUrl}: ${String(e)}`,
    );
  }
}

export function browserStageLoader(o: BrowserStageLoaderOptions): LoadStage {
  const load = async (
    spec: StageLoadSpec,
    onProgress: (fraction: number) => void,
    signal: AbortSignal,
  ): Promise<LoadedStage> => {
    try {
      const named = await o.resolve(spec.modelId, signal);
      // A room whose model lives elsewhere (a URL, a Hub file) says where in its plan.
      const source =
        spec.modelUrl === undefined
          ? named
          : { ...named, targetUrl: new URL(spec.modelUrl, globalThis.location.href).href };
      const config = await (o.loadConfig ?? targetConfig)(source, signal);
      const kv = kvSizing(config, spec.contextLength, o.contextCap);
      const shard = await createBrowserShardClient(
        {
          model: source.targetUrl,
          layerStart: spec.layerStart,
          layerEnd: spec.layerEnd,
          embeds: spec.embeds,
          tail: spec.tail,
          backend: o.backend(spec),
          kvCells: kv.kvCells,
          maxSeqs: kv.maxSeqs,
        },
        {
          signal,
          onProgress: (p: LoadProgress) => {
            o.onBytes?.(spec, p);
            onProgress(p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 1);
          },
        },
      );
      o.onLoaded?.(shard, spec);
      return shard satisfies LoadedStage;
    } catch (e) {
      if (signal.aborted)
        throw new MeshError("ERR_ABORTED", "the assignment changed while loading");
      if ((e as { code?: unknown } | null)?.code === "ERR_MODEL_LOAD") throw e;
      throw new HeadError(
        "ERR_MODEL_LOAD",
        `layers ${spec.layerStart}-${spec.layerEnd} of "${spec.modelId}" failed to load: ${String(e)}`,
      );
    }
  };
  return load satisfies LoadStage;
}
