// The engine behind a Node peer's place in a pipeline: the mesh's LoadStage, satisfied by a shard in a
// worker_thread that loads only its layer range over HTTP Range requests from the room's server
// (/models/<modelId>/), or by an embed-only CPU shard in this process for the CLI head. Both read the
// weights through the Node weight cache (PIPEMESH_CACHE_DIR; see engine src/node/cache-dir.ts) by default.

import {
  isGgufLocation,
  kvCacheBytes,
  loadLayerShard,
  loadModelConfig,
  openUrlModelDir,
  verifyModelFiles,
  type LoadProgress,
} from "@pipemesh/engine";
import { createNodeShardClient, defaultCacheDir, openNodeCache } from "@pipemesh/engine/node";
import type { LoadedStage, LoadStage, StageRunner } from "@pipemesh/mesh";
import { kvSizing } from "@pipemesh/head";
import { recordHeldLayers } from "./held-layers.ts";
import { modelledStage, type ModelledCompute } from "./modelled-stage.ts";

/** Where a room's model lives on its server: a directory, or a `.gguf` file. */
export function modelUrl(origin: string, modelId: string): string {
  return new URL(isGgufLocation(modelId) ? `/models/${modelId}` : `/models/${modelId}/`, origin)
    .href;
}

export interface StageLoaderOptions {
  origin: string;
  backend: "webgpu" | "cpu";
  /** KV cells; default min(model context, 2048) + 512 for speculative partitions. */
  kvCells?: number | undefined;
  maxSeqs?: number | undefined;
  onProgress?: ((range: string, p: LoadProgress) => void) | undefined;
  /** Benchmarks: wrap the shard in modelled compute (peer/modelled-stage.ts). */
  modelled?: ModelledCompute | null | undefined;
  /** The weight cache directory (default: defaultCacheDir(), from the environment); null: no cache. */
  cacheDir?: string | null | undefined;
}

export function nodeStageLoader(o: StageLoaderOptions): LoadStage {
  const cacheDir = o.cacheDir === undefined ? defaultCacheDir() : o.cacheDir;
  const cache = cacheDir === null ? undefined : openNodeCache({ dir: cacheDir });
  return async (spec, onProgress, signal) => {
    const model =
      spec.modelUrl === undefined
        ? modelUrl(o.origin, spec.modelId)
        : new URL(spec.modelUrl, o.origin).href;
    const dir = openUrlModelDir(model, { cache });
    if (spec.source !== undefined) await verifyModelFiles(dir, spec.source.files, signal);
    const config = await loadModelConfig(dir, signal);
    const kv = kvSizing(config, spec.contextLength);
    const kvCells = o.kvCells ?? kv.kvCells;
    const shardSpec = {
      model,
      layerStart: spec.layerStart,
      layerEnd: spec.layerEnd,
      embeds: spec.embeds,
      tail: spec.tail,
      backend: o.backend,
      kvCells,
      maxSeqs: o.maxSeqs ?? kv.maxSeqs,
    };
    const range = `${spec.layerStart}-${spec.layerEnd}`;
    const progress = (p: LoadProgress): void => {
      onProgress(p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 0);
      o.onProgress?.(range, p);
    };
    // The head's own range is embeddings only (no layers): cheaper in this process than in a worker.
    if (spec.layerStart === spec.layerEnd && !spec.tail) {
      const shard = await loadLayerShard(
        { ...shardSpec, backend: "cpu" },
        {
          signal,
          onProgress: progress,
          config,
          openDir: (loc) => openUrlModelDir(loc, { cache }),
        },
      );
      return shard satisfies StageRunner;
    }
    const client = await createNodeShardClient(shardSpec, {
      signal,
      onProgress: progress,
      cacheDir: cacheDir ?? undefined,
    });
    recordHeldLayers(cacheDir, spec.modelId, spec);
    const runner: StageRunner =
      o.modelled == null
        ? client
        : modelledStage(client, o.modelled, spec.layerEnd - spec.layerStart);
    const stage: LoadedStage = {
      run: (batch, s) => runner.run(batch, s),
      kv: (op) => runner.kv(op),
      destroy: () => client.destroy(),
      weightBytes: client.info.weightBytes,
      kvBytes: kvCacheBytes(config, spec.layerEnd - spec.layerStart, kvCells),
    };
    return stage;
  };
}
