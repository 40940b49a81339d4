// The non-weight files of a model directory: config.json (parsed into a ModelConfig; a GGUF file's
// metadata instead) and a helper that opens a model from a URL in the browser (relative URLs resolve
// against the page; a URL ending in .gguf opens the file as a GgufModelDir). Tokenizer files are
// read by src/tokenizer/; weights by load-weights.ts.

import { parseModelConfig, type ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { ModelDir } from "./byte-source.ts";
import { GgufModelDir, isGgufLocation, isGgufModelDir } from "./gguf-model.ts";
import { HttpModelDir, HttpSource, type HttpOptions } from "./http-source.ts";

export const CONFIG_FILE = "config.json";

/** Reads and parses the model directory's JSON file `name` (ERR_CONFIG_INVALID if it is not JSON). */
export async function readJsonFile(
  dir: ModelDir,
  name: string,
  signal?: AbortSignal,
): Promise<unknown> {
  const text = await dir.readText(name, signal);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new EngineError(
      name === CONFIG_FILE ? "ERR_CONFIG_INVALID" : "ERR_TOKENIZER",
      `${dir.location}/${name} is not valid JSON: ${(e as Error).message}`,
    );
  }
}

/** Reads config.json from a model directory and parses it. */
export async function loadModelConfig(dir: ModelDir, signal?: AbortSignal): Promise<ModelConfig> {
  if (isGgufModelDir(dir)) return dir.config(signal);
  return parseModelConfig(await readJsonFile(dir, CONFIG_FILE, signal));
}

/**
 * A model directory from a URL: absolute, or relative to the page (browser) when a base is known.
 * Paths on a file system need openModelDir from @pipemesh/engine/node.
 */
export function openUrlModelDir(location: string, options: HttpOptions = {}): ModelDir {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  let url: URL;
  try {
    url = base === undefined ? new URL(location) : new URL(location, base);
  } catch {
    throw new EngineError(
      "ERR_FETCH",
      `"${location}" is not a URL; on Node, open file system paths with openModelDir from @pipemesh/engine/node`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EngineError(
      "ERR_FETCH",
      `"${location}" is not an http(s) URL; on Node use openModelDir from @pipemesh/engine/node`,
    );
  }
  if (isGgufLocation(url.href)) return new GgufModelDir(new HttpSource(url.href, options));
  return new HttpModelDir(url.href, options);
}
