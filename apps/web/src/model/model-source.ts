// Where a room's model files are: a room's model id is its directory under /models/ (as in the CLI's rooms);
// the embedded default pair named by /models/default.json ({"name","target","draft","draftWeak"}, paths
// relative to /models/) is known by its target's path (or its name) and brings its draft model; any other
// id is the directory /models/<id>/ with no draft model (that resolution is @pipemesh/head/browser's, shared
// with its in-page client). Also the ModelInfo a new room announces (layer, embedding and head bytes from the
// config). Resolution only; loading is the engine's.

import {
  loadModelConfig,
  modelFootprint,
  openUrlModelDir,
  type ModelConfig,
} from "@pipemesh/engine";
import type { ModelSource } from "@pipemesh/head/browser";
import type { ModelInfo } from "@pipemesh/mesh";
import { AppError } from "../errors.ts";

export {
  fetchDefaultModel,
  modelPath,
  parseDefaultModel,
  resolveModelSource,
  roomModelSource,
  type DefaultModelFile,
  type ModelSource,
} from "@pipemesh/head/browser";

/**
 * The model geometry a new room announces (what the planner sizes stages with). As in the CLI's rooms,
 * layerBytes includes the layer's K/V for `kvCells`, so budgets cover the cache too.
 */
export function modelInfoFor(id: string, config: ModelConfig, kvCells: number): ModelInfo {
  const f = modelFootprint(config);
  return {
    id,
    layerCount: config.numLayers,
    layerBytes: f.layerBytes + f.kvBytesPerCellPerLayer * kvCells,
    embedBytes: f.embedBytes,
    headBytes: f.headBytes,
  };
}

/** Reads the target's config.json (coded ERR_MODEL_LOAD on failure). */
export async function loadTargetConfig(
  source: ModelSource,
  signal?: AbortSignal,
): Promise<ModelConfig> {
  try {
    return await loadModelConfig(openUrlModelDir(source.targetUrl), signal);
  } catch (e) {
    throw new AppError(
      "ERR_MODEL_LOAD",
      `the model "${source.id}" has no usable config.json at ${source.targetUrl}: ${String(e)}`,
      { cause: e },
    );
  }
}
