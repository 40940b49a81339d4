// The web app's adapter between the engine and the mesh, its fit checked with `satisfies`: a contributor's
// and the chat head's loadStage (engine shard in a Web Worker, WebGPU or CPU backend). KV sizing is
// @pipemesh/head's (the CLI uses the same), with the app's context cap; the chat head is openHead's.

import {
  createBrowserShardClient,
  type LoadProgress,
  type ModelConfig,
  type ShardBackend,
  type ShardClient,
} from "@pipemesh/engine";
import { kvSizing as headKvSizing, type KvSizing } from "@pipemesh/head";
import { MeshError, type LoadedStage, type LoadStage, type StageLoadSpec } from "@pipemesh/mesh";
import type { AppConfig } from "./config.ts";
import { AppError } from "./errors.ts";
import { loadTargetConfig, type ModelSource } from "./model/model-source.ts";

export type { KvSizing };

/** K/V sizing for a model: the room's context length when it names one, else the app's default cap. */
export function kvSizing(config: ModelConfig, app: AppConfig, contextLength?: number): KvSizing {
  return headKvSizing(config, contextLength, app.maxContextTokens);
}

export interface StageLoaderOptions {
  app: AppConfig;
  /** The files of the plan's model id. */
  resolve: (modelId: string, signal: AbortSignal) => Promise<ModelSource>;
  /** Backend for a spec: the contributor's choice; the chat head uses the CPU for an embeddings-only shard. */
  backend: (spec: StageLoadSpec) => ShardBackend;
  /** Told about each shard once it is loaded (adapter, bytes). */
  onLoaded?: (shard: ShardClient, spec: StageLoadSpec) => void;
  /** Told the bytes loaded so far, for progress with a rate and the time left. */
  onBytes?: (spec: StageLoadSpec, p: LoadProgress) => void;
}

/** The mesh's LoadStage on the engine: one shard worker per assignment. */
export function stageLoader(o: StageLoaderOptions): LoadStage {
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
      const config = await loadTargetConfig(source, signal);
      const kv = kvSizing(config, o.app, spec.contextLength);
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
      if (e instanceof AppError) throw e;
      throw new AppError(
        "ERR_MODEL_LOAD",
        `layers ${spec.layerStart}-${spec.layerEnd} of "${spec.modelId}" failed to load: ${String(e)}`,
        { cause: e },
      );
    }
  };
  return load satisfies LoadStage;
}
