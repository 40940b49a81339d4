// The models `pipemesh serve` serves, as room descriptions: every directory with a config.json and every
// .gguf file under public/models (its path there is its id, e.g. "pipemesh-tiny/target" or
// "pipemesh-tiny/target.q8_0.gguf"), plus the default pair under its name. The signaling server creates rooms only for these, with these sizes.

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isGgufLocation } from "@pipemesh/engine";
import type { ModelInfo } from "@pipemesh/mesh";
import { modelInfoFor } from "./model-info.ts";
import { readDefaultPair } from "./models.ts";

const MAX_DEPTH = 4;

function modelDirs(root: string, rel: string, depth: number, out: string[]): void {
  const dir = join(root, rel);
  if (rel !== "" && existsSync(join(dir, "config.json"))) out.push(rel);
  if (depth >= MAX_DEPTH) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) modelDirs(root, path, depth + 1, out);
    else if (e.isFile() && isGgufLocation(e.name)) out.push(path);
  }
}

/** Room descriptions for the models under `modelsDir`; unreadable configs are skipped. */
export async function servedModels(modelsDir: string): Promise<ModelInfo[]> {
  const ids: string[] = [];
  modelDirs(modelsDir, "", 0, ids);
  const out: ModelInfo[] = [];
  for (const id of ids) {
    try {
      out.push(await modelInfoFor(join(modelsDir, id), id));
    } catch {
      // not a model this server can describe: rooms cannot be made for it
    }
  }
  try {
    const pair = readDefaultPair();
    const target = out.find((m) => `${modelsDir}${m.id}` === pair.target);
    if (target !== undefined && !out.some((m) => m.id === pair.name))
      out.push({ ...target, id: pair.name });
  } catch {
    // no default pair
  }
  return out;
}
