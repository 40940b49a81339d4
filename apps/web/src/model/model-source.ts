// Where a room's model files are: a room's model id is its directory under /models/ (as in the CLI's rooms);
// the embedded default pair named by /models/default.json ({"name","target","draft","draftWeak"}, paths
// relative to /models/) is known by its target's path (or its name) and brings its draft model; any other
// id is the directory /models/<id>/ with no draft model. Also the ModelInfo a new room
// announces (layer, embedding and head bytes from the config). Resolution only; loading is the engine's.

import {
  isGgufLocation,
  loadModelConfig,
  modelFootprint,
  openUrlModelDir,
  type ModelConfig,
} from "@pipemesh/engine";
import type { ModelInfo } from "@pipemesh/mesh";
import { AppError } from "../errors.ts";

export interface ModelSource {
  /** The room's model id (ModelInfo.id). */
  id: string;
  /** What to call it ("pipemesh-tiny"). */
  name: string;
  /** Absolute URL of the target model directory (ends with "/"). */
  targetUrl: string;
  /** Absolute URL of the draft model directory, when the model has one. */
  draftUrl: string | undefined;
}

export interface DefaultModelFile {
  name: string;
  target: string;
  draft: string | undefined;
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MODEL_PATH = /^[A-Za-z0-9_.:-]+(?:\/[A-Za-z0-9_.:-]+)*$/;

/** A directory under /models/ as a model id ("pipemesh-tiny/target"), or undefined if it is not one. */
export function modelPath(dir: string): string | undefined {
  const p = dir.replace(/^\.\//, "").replace(/\/+$/, "");
  const ok =
    MODEL_PATH.test(p) && p.length <= 256 && !p.split("/").some((x) => x === "." || x === "..");
  return ok ? p : undefined;
}

/** The URL of a model under /models/: a directory (trailing slash), or a `.gguf` file. */
function dirUrl(base: string, path: string): string {
  if (isGgufLocation(path)) return new URL(path, base).href;
  return new URL(path.endsWith("/") ? path : `${path}/`, base).href;
}

/** Validates the JSON of /models/default.json. */
export function parseDefaultModel(json: unknown): DefaultModelFile {
  const o = (json ?? {}) as Record<string, unknown>;
  const name = o["name"];
  const target = o["target"];
  const draft = o["draft"];
  if (typeof name !== "string" || !ID.test(name) || typeof target !== "string") {
    throw new AppError(
      "ERR_MODEL_LOAD",
      'models/default.json must name "name" (an id) and "target" (a directory under /models/)',
    );
  }
  return { name, target, draft: typeof draft === "string" ? draft : undefined };
}

async function fetchJson(url: string, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, signal === undefined ? {} : { signal });
  } catch (e) {
    throw new AppError("ERR_MODEL_LOAD", `cannot fetch ${url}: ${String(e)}`, { cause: e });
  }
  if (!res.ok) throw new AppError("ERR_MODEL_LOAD", `${url}: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch (e) {
    throw new AppError("ERR_MODEL_LOAD", `${url} is not JSON`, { cause: e });
  }
}

/** The embedded default model pair. */
export async function fetchDefaultModel(
  modelsBaseUrl: string,
  signal?: AbortSignal,
): Promise<ModelSource> {
  const file = parseDefaultModel(
    await fetchJson(new URL("default.json", modelsBaseUrl).href, signal),
  );
  return {
    // The room's model id is the target's path under /models/, as in the CLI's rooms (join resolves it).
    id: modelPath(file.target) ?? file.name,
    name: file.name,
    targetUrl: dirUrl(modelsBaseUrl, file.target),
    draftUrl: file.draft === undefined ? undefined : dirUrl(modelsBaseUrl, file.draft),
  };
}

/**
 * The files of model `id`: the default pair when `id` is its name or its target's path under /models/,
 * else /models/<id>/ without a draft.
 */
export async function resolveModelSource(
  id: string,
  modelsBaseUrl: string,
  signal?: AbortSignal,
): Promise<ModelSource> {
  const fallback: ModelSource = {
    id,
    name: id,
    targetUrl: dirUrl(modelsBaseUrl, id),
    draftUrl: undefined,
  };
  try {
    const def = await fetchDefaultModel(modelsBaseUrl, signal);
    // The default pair under its name, or under its target's path (the id the CLI's rooms use).
    return def.name === id || def.targetUrl === fallback.targetUrl ? { ...def, id } : fallback;
  } catch {
    return fallback; // no default.json: the model can still live under its own id
  }
}

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
