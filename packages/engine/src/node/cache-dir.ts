// Where Node peers and heads keep their weight cache, and how they open it: PIPEMESH_CACHE_DIR, else
// $XDG_CACHE_HOME/pipemesh, else ~/.cache/pipemesh ("off" or "none" turns the cache off); plus
// openCachedModelDir, the Node model opener that reads http(s) models through the cache and opens paths
// as before. PIPEMESH_CACHE_MAX_BYTES caps the cache (least recently used entries go first).

import { homedir } from "node:os";
import { join } from "node:path";
import type { ModelDir } from "../loader/byte-source.ts";
import { openUrlModelDir } from "../loader/model-files.ts";
import { NodeChunkStore } from "./node-chunk-store.ts";
import { WeightCache, type WeightCacheOptions } from "../cache/weight-cache.ts";
import { openModelDir } from "./file-source.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The cache directory the environment names, or null when the cache is turned off. */
export function defaultCacheDir(env: Env = process.env): string | null {
  const dir = env["PIPEMESH_CACHE_DIR"]?.trim();
  if (dir !== undefined && dir !== "") {
    return /^(off|none)$/i.test(dir) ? null : dir;
  }
  const xdg = env["XDG_CACHE_HOME"]?.trim();
  if (xdg !== undefined && xdg !== "") return join(xdg, "pipemesh");
  return join(homedir(), ".cache", "pipemesh");
}

export interface NodeCacheOptions extends WeightCacheOptions {
  /** The directory (default: defaultCacheDir()). */
  dir?: string | undefined;
}

/** The Node weight cache, or undefined when the environment turns it off. */
export function openNodeCache(options: NodeCacheOptions = {}): WeightCache | undefined {
  const dir = options.dir ?? defaultCacheDir();
  if (dir === null) return undefined;
  const envMax = Number(process.env["PIPEMESH_CACHE_MAX_BYTES"] ?? "");
  const maxBytes = options.maxBytes ?? (Number.isFinite(envMax) && envMax > 0 ? envMax : undefined);
  return new WeightCache(new NodeChunkStore(dir), { ...options, maxBytes });
}

/** Opens a model like openModelDir, reading http(s) models' byte ranges through `cache` when given. */
export function openCachedModelDir(location: string, cache: WeightCache | undefined): ModelDir {
  if (cache !== undefined && /^https?:\/\//i.test(location)) {
    return openUrlModelDir(location, { cache });
  }
  return openModelDir(location);
}
