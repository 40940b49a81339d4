// Which layers of which model a Node peer loaded last, kept beside its weight cache (held-layers.json), so
// a returning peer can tell the room and get the layers its cache already holds. Small and best effort: a
// missing or unreadable record means "nothing held"; the newest 16 models are kept.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LayerRange, PeerCapabilities } from "@pipemesh/mesh";

const FILE = "held-layers.json";
const MAX_MODELS = 16;

type Record_ = { modelId: string; layers: LayerRange };

function read(cacheDir: string): Record_[] {
  try {
    const json = JSON.parse(readFileSync(join(cacheDir, FILE), "utf8")) as unknown;
    if (!Array.isArray(json)) return [];
    return json.filter(
      (r): r is Record_ =>
        typeof (r as Record_).modelId === "string" &&
        Number.isInteger((r as Record_).layers?.layerStart) &&
        Number.isInteger((r as Record_).layers?.layerEnd),
    );
  } catch {
    return [];
  }
}

/** The caps' `models` entries for what this cache holds (empty without a cache). */
export function heldModels(cacheDir: string | null): PeerCapabilities["models"] {
  if (cacheDir === null) return [];
  return read(cacheDir).map((r) => ({ modelId: r.modelId, files: [], layers: r.layers }));
}

/** Records that `modelId`'s layers [layerStart, layerEnd) are in the cache (the newest first). */
export function recordHeldLayers(
  cacheDir: string | null,
  modelId: string,
  layers: LayerRange,
): void {
  if (cacheDir === null) return;
  try {
    const records = [
      { modelId, layers: { layerStart: layers.layerStart, layerEnd: layers.layerEnd } },
      ...read(cacheDir).filter((r) => r.modelId !== modelId),
    ].slice(0, MAX_MODELS);
    mkdirSync(cacheDir, { recursive: true });
    const tmp = join(cacheDir, `${FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(records));
    renameSync(tmp, join(cacheDir, FILE));
  } catch {
    // the record is a hint for the planner; losing it only costs a download
  }
}
