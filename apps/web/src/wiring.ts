// The web app's adapter between the engine and the mesh, its fit checked with `satisfies`: a contributor's
// and the chat head's loadStage (@pipemesh/head/browser's: engine shard in a Web Worker, WebGPU or CPU
// backend). KV sizing is @pipemesh/head's (the CLI uses the same), with the app's context cap; the chat head
// is openRoomHead's.

import type { LoadProgress, ModelConfig, ShardBackend, ShardClient } from "@pipemesh/engine";
import { kvSizing as headKvSizing, isHeadError, type KvSizing } from "@pipemesh/head";
import { browserStageLoader } from "@pipemesh/head/browser";
import type { LoadStage, StageLoadSpec } from "@pipemesh/mesh";
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

/** The mesh's LoadStage on the engine: one shard worker per assignment (@pipemesh/head/browser's). */
export function stageLoader(o: StageLoaderOptions): LoadStage {
  const load = browserStageLoader({
    ...o,
    contextCap: o.app.maxContextTokens,
    loadConfig: loadTargetConfig,
  });
  return (async (spec, onProgress, signal) => {
    try {
      return await load(spec, onProgress, signal);
    } catch (e) {
      if (isHeadError(e, "ERR_MODEL_LOAD"))
        throw new AppError("ERR_MODEL_LOAD", e.message, { cause: e });
      throw e;
    }
  }) satisfies LoadStage;
}
