// Where a room's model files are, for a browser head or contributor: a room whose descriptor names a
// source (a URL, a Hub file) and its draft's is read from there; otherwise its model id is a directory
// under the page's /models/, where the embedded default pair named by /models/default.json
// ({"name","target","draft"}, paths relative to /models/) is known by its target's path (or its name) and
// brings its draft model, and any other id is /models/<id>/ with no draft. Resolution only.

import { isGgufLocation } from "@pipemesh/engine";
import type { RoomState } from "@pipemesh/mesh";
import { HeadError } from "../errors.ts";

export interface ModelSource {
  /** The room's model id (ModelInfo.id). */
  id: string;
  /** What to call it ("pipemesh-tiny"). */
  name: string;
  /** Absolute URL of the target model directory (ends with "/"), or of a `.gguf` file. */
  targetUrl: string;
  /** Absolute URL of the draft model, when the model has one. */
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
    throw new HeadError(
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
    throw new HeadError("ERR_MODEL_LOAD", `cannot fetch ${url}: ${String(e)}`);
  }
  if (!res.ok) throw new HeadError("ERR_MODEL_LOAD", `${url}: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new HeadError("ERR_MODEL_LOAD", `${url} is not JSON`);
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
 * The files of model `id` in a room whose model descriptor is `room`: where the descriptor names them
 * (relative to `page`), else as resolveModelSource finds them under `modelsBaseUrl`.
 */
export function roomModelSource(
  room: RoomState["model"],
  id: string,
  modelsBaseUrl: string,
  page: string,
  signal?: AbortSignal,
): Promise<ModelSource> {
  if (room.id !== id || room.source === undefined)
    return resolveModelSource(id, modelsBaseUrl, signal);
  return Promise.resolve({
    id,
    name: id,
    targetUrl: new URL(room.source.url, page).href,
    draftUrl: room.draft === undefined ? undefined : new URL(room.draft.source.url, page).href,
  });
}
