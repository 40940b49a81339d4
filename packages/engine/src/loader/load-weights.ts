// Loads exactly the tensors one shard needs (its layers; embeddings if first; final norm and LM head if
// last) from `model.safetensors` or a sharded index, reading only those tensors' byte ranges, converting
// them to float32. Validates names, shapes and dtypes of everything before reading any tensor data, and
// returns nothing unless everything loaded (no half-loaded shard). Not a cache and not a backend.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { LayerRange } from "../model/shard-spec.ts";
import {
  EMBED_TENSOR_NAME,
  FINAL_NORM_TENSOR_NAME,
  LM_HEAD_TENSOR_NAME,
  layerTensorName,
  type LayerTensorKind,
  type LayerWeights,
  type ShardWeights,
} from "../model/weights.ts";
import { throwIfAborted, type ModelDir } from "./byte-source.ts";
import {
  isConvertibleDtype,
  parseSafetensorsIndex,
  readSafetensorsHeader,
  toFloat32,
  type SafetensorsHeader,
  type TensorEntry,
} from "./safetensors.ts";

export const SINGLE_WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";

/** Largest single read; adjacent tensors are merged into one read up to this size. */
const MAX_READ_BYTES = 64 * 1024 * 1024;
const READ_CONCURRENCY = 4;

export interface LoadProgress {
  /** Tensor bytes read so far. */
  doneBytes: number;
  /** Tensor bytes this shard needs in total. */
  totalBytes: number;
}

export interface LoadWeightsOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
}

/** Where each tensor lives: tensor name → file name (one file, or the sharded index). */
export async function resolveWeightFiles(
  dir: ModelDir,
  signal?: AbortSignal,
): Promise<{ files: string[]; fileOf: (tensor: string) => string | undefined }> {
  if (await dir.has(SINGLE_WEIGHTS_FILE, signal)) {
    return { files: [SINGLE_WEIGHTS_FILE], fileOf: () => SINGLE_WEIGHTS_FILE };
  }
  if (await dir.has(WEIGHTS_INDEX_FILE, signal)) {
    const text = await dir.readText(WEIGHTS_INDEX_FILE, signal);
    const map = parseSafetensorsIndex(text, `${dir.location}/${WEIGHTS_INDEX_FILE}`);
    return { files: [...new Set(map.values())].sort(), fileOf: (t) => map.get(t) };
  }
  throw new EngineError(
    "ERR_WEIGHTS_MISSING",
    `${dir.location} has neither ${SINGLE_WEIGHTS_FILE} nor ${WEIGHTS_INDEX_FILE}`,
  );
}

interface Wanted {
  name: string;
  shape: number[];
  /** Where the converted array goes. */
  slot: { layer: number; kind: LayerTensorKind } | "embed" | "finalNorm" | "lmHead";
}

/** The tensors a shard needs, with their expected shapes. */
export function shardTensorList(config: ModelConfig, range: LayerRange): Wanted[] {
  const { hiddenSize: h, intermediateSize: m, qDim, kvDim, vocabSize } = config;
  const out: Wanted[] = [];
  const needEmbed = range.embeds || (range.head && config.tieWordEmbeddings);
  if (needEmbed) out.push({ name: EMBED_TENSOR_NAME, shape: [vocabSize, h], slot: "embed" });
  const shapes: [LayerTensorKind, number[], boolean][] = [
    ["inputNorm", [h], true],
    ["q", [qDim, h], true],
    ["k", [kvDim, h], true],
    ["v", [kvDim, h], true],
    ["o", [h, qDim], true],
    ["qBias", [qDim], config.qkvBias],
    ["kBias", [kvDim], config.qkvBias],
    ["vBias", [kvDim], config.qkvBias],
    ["oBias", [h], config.oBias],
    ["postNorm", [h], true],
    ["gate", [m, h], true],
    ["up", [m, h], true],
    ["down", [h, m], true],
    ["gateBias", [m], config.mlpBias],
    ["upBias", [m], config.mlpBias],
    ["downBias", [h], config.mlpBias],
  ];
  for (let layer = range.layerStart; layer < range.layerEnd; layer++) {
    for (const [kind, shape, needed] of shapes) {
      if (needed) out.push({ name: layerTensorName(layer, kind), shape, slot: { layer, kind } });
    }
  }
  if (range.head) {
    out.push({ name: FINAL_NORM_TENSOR_NAME, shape: [h], slot: "finalNorm" });
    if (!config.tieWordEmbeddings) {
      out.push({ name: LM_HEAD_TENSOR_NAME, shape: [vocabSize, h], slot: "lmHead" });
    }
  }
  return out;
}

interface Located {
  want: Wanted;
  file: string;
  entry: TensorEntry;
}

function checkRange(config: ModelConfig, range: LayerRange): void {
  const { layerStart, layerEnd } = range;
  if (!Number.isInteger(layerStart) || !Number.isInteger(layerEnd)) {
    throw new EngineError(
      "ERR_BATCH_INVALID",
      `layer range ${layerStart}..${layerEnd} is not integer`,
    );
  }
  if (layerStart < 0 || layerEnd > config.numLayers || layerStart > layerEnd) {
    throw new EngineError(
      "ERR_BATCH_INVALID",
      `layer range [${layerStart}, ${layerEnd}) is outside the model's ${config.numLayers} layers`,
    );
  }
}

/** Loads the weights of one shard. Rejects with a coded error and returns nothing on any failure. */
export async function loadShardWeights(
  dir: ModelDir,
  config: ModelConfig,
  range: LayerRange,
  options: LoadWeightsOptions = {},
): Promise<ShardWeights> {
  const { signal, onProgress } = options;
  checkRange(config, range);
  const wanted = shardTensorList(config, range);
  const { fileOf } = await resolveWeightFiles(dir, signal);

  const fileNames = new Set<string>();
  for (const w of wanted) {
    const file = fileOf(w.name);
    if (file === undefined) {
      throw new EngineError(
        "ERR_WEIGHTS_MISSING",
        `${dir.location}: tensor ${w.name} is not in the index`,
      );
    }
    fileNames.add(file);
  }
  const headers = new Map<string, SafetensorsHeader>();
  await Promise.all(
    [...fileNames].map(async (f) => {
      headers.set(f, await readSafetensorsHeader(dir.open(f), signal));
    }),
  );

  const located = wanted.map((want): Located => {
    const file = fileOf(want.name) ?? "";
    const entry = headers.get(file)?.tensors.get(want.name);
    if (entry === undefined) {
      throw new EngineError(
        "ERR_WEIGHTS_MISSING",
        `${dir.location}/${file}: no tensor ${want.name}`,
      );
    }
    if (
      entry.shape.length !== want.shape.length ||
      entry.shape.some((d, i) => d !== want.shape[i])
    ) {
      throw new EngineError(
        "ERR_WEIGHTS_SHAPE",
        `${dir.location}/${file}: tensor ${want.name} has shape [${entry.shape.join(", ")}], the config implies [${want.shape.join(", ")}]`,
      );
    }
    if (!isConvertibleDtype(entry.dtype)) {
      throw new EngineError(
        "ERR_WEIGHTS_DTYPE",
        `${dir.location}/${file}: tensor ${want.name} is ${entry.dtype} (supported: F32, F16, BF16)`,
      );
    }
    return { want, file, entry };
  });

  const arrays = await readTensors(dir, located, signal, onProgress);
  return assemble(config, range, located, arrays);
}

/** Reads all located tensors, merging byte-adjacent ones of the same file into one read. */
async function readTensors(
  dir: ModelDir,
  located: Located[],
  signal: AbortSignal | undefined,
  onProgress: LoadWeightsOptions["onProgress"],
): Promise<Map<string, Float32Array>> {
  const sorted = [...located].sort(
    (a, b) => a.file.localeCompare(b.file) || a.entry.offset - b.entry.offset,
  );
  const groups: Located[][] = [];
  for (const l of sorted) {
    const g = groups[groups.length - 1];
    const last = g?.[g.length - 1];
    const start = g?.[0]?.entry.offset ?? 0;
    if (
      g !== undefined &&
      last !== undefined &&
      last.file === l.file &&
      last.entry.offset + last.entry.sizeBytes === l.entry.offset &&
      l.entry.offset + l.entry.sizeBytes - start <= MAX_READ_BYTES
    ) {
      g.push(l);
    } else groups.push([l]);
  }
  const totalBytes = located.reduce((a, l) => a + l.entry.sizeBytes, 0);
  let doneBytes = 0;
  onProgress?.({ doneBytes, totalBytes });
  const arrays = new Map<string, Float32Array>();
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < groups.length && !failed) {
      const g = groups[next++] ?? [];
      const first = g[0];
      const last = g[g.length - 1];
      if (first === undefined || last === undefined) continue;
      throwIfAborted(signal, "loading weights");
      const start = first.entry.offset;
      const length = last.entry.offset + last.entry.sizeBytes - start;
      const bytes = await dir
        .open(first.file)
        .read(start, length, signal)
        .catch((e: unknown) => {
          failed = true; // the other readers stop at their next group
          throw e;
        });
      for (const l of g) {
        const at = l.entry.offset - start;
        const slice = bytes.subarray(at, at + l.entry.sizeBytes);
        arrays.set(l.want.name, toFloat32(slice, l.entry.dtype as "F32" | "F16" | "BF16"));
      }
      doneBytes += length;
      onProgress?.({ doneBytes, totalBytes });
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, groups.length) }, worker));
  throwIfAborted(signal, "loading weights");
  return arrays;
}

function assemble(
  config: ModelConfig,
  range: LayerRange,
  located: Located[],
  arrays: Map<string, Float32Array>,
): ShardWeights {
  const get = (name: string): Float32Array => {
    const a = arrays.get(name);
    if (a === undefined) throw new EngineError("ERR_INTERNAL", `tensor ${name} was not read`);
    return a;
  };
  const partial: Partial<LayerWeights>[] = [];
  for (let l = range.layerStart; l < range.layerEnd; l++) partial.push({});
  let embed: Float32Array | undefined;
  let finalNorm: Float32Array | undefined;
  let lmHead: Float32Array | undefined;
  for (const { want } of located) {
    const a = get(want.name);
    if (want.slot === "embed") embed = a;
    else if (want.slot === "finalNorm") finalNorm = a;
    else if (want.slot === "lmHead") lmHead = a;
    else {
      const layer = partial[want.slot.layer - range.layerStart];
      if (layer !== undefined) layer[want.slot.kind] = a;
    }
  }
  if (range.head && config.tieWordEmbeddings) lmHead = embed;
  const layers = partial.map((p, i): LayerWeights => {
    const { inputNorm, q, k, v, o, postNorm, gate, up, down } = p;
    if (!inputNorm || !q || !k || !v || !o || !postNorm || !gate || !up || !down) {
      throw new EngineError("ERR_INTERNAL", `layer ${range.layerStart + i} is incomplete`);
    }
    return { ...p, inputNorm, q, k, v, o, postNorm, gate, up, down };
  });
  return {
    layerStart: range.layerStart,
    layerEnd: range.layerEnd,
    embed: range.embeds ? embed : undefined,
    layers,
    finalNorm,
    lmHead,
  };
}
