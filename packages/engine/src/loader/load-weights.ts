// Loads exactly the tensors one shard needs (its layers; embeddings if first; final norm and LM head if
// last) from `model.safetensors` or a sharded index, or from a GGUF file, reading only those tensors' byte
// ranges. Matrices stay in their stored type (F32, F16, BF16; GGUF quant blocks), norms and biases become
// float32. Validates names, shapes and dtypes of everything before reading any tensor data, and returns
// nothing unless everything loaded (no half-loaded shard). Not a cache and not a backend.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { LayerRange } from "../model/shard-spec.ts";
import type { ShardWeights } from "../model/weights.ts";
import { packedMatrix, type TensorType } from "../quant/tensor-type.ts";
import type { ModelDir } from "./byte-source.ts";
import { isGgufModelDir, ggufShardReads } from "./gguf-model.ts";
import {
  isConvertibleDtype,
  parseSafetensorsIndex,
  readSafetensorsHeader,
  toFloat32,
  type SafetensorsHeader,
  type TensorEntry,
} from "./safetensors.ts";
import { checkRange, isMatrixSlot, shardTensorList } from "./shard-tensors.ts";
import {
  collectWeights,
  streamWeights,
  type LoadWeightsOptions,
  type TensorRead,
  type WeightConsumer,
} from "./weight-reads.ts";

export type { LoadProgress, LoadWeightsOptions, WeightConsumer } from "./weight-reads.ts";
export { shardTensorList } from "./shard-tensors.ts";

export const SINGLE_WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";

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

const DTYPE_TYPE: Readonly<Record<"F32" | "F16" | "BF16", TensorType>> = {
  F32: "f32",
  F16: "f16",
  BF16: "bf16",
};

/** Whether a slot holds a matrix (kept in its stored type) rather than a float32 vector. */

/** The byte ranges and decoders of a shard's tensors in a safetensors model, validated. */
async function safetensorsShardReads(
  dir: ModelDir,
  config: ModelConfig,
  range: LayerRange,
  signal: AbortSignal | undefined,
): Promise<TensorRead[]> {
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
  const sources = new Map([...fileNames].map((f) => [f, dir.open(f)]));
  await Promise.all(
    [...fileNames].map(async (f) => {
      const source = sources.get(f);
      if (source !== undefined) headers.set(f, await readSafetensorsHeader(source, signal));
    }),
  );
  return wanted.map((want): TensorRead => {
    const file = fileOf(want.name) ?? "";
    const entry: TensorEntry | undefined = headers.get(file)?.tensors.get(want.name);
    const source = sources.get(file);
    if (entry === undefined || source === undefined) {
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
    const dtype = entry.dtype;
    if (!isConvertibleDtype(dtype)) {
      throw new EngineError(
        "ERR_WEIGHTS_DTYPE",
        `${dir.location}/${file}: tensor ${want.name} is ${dtype} (supported: F32, F16, BF16)`,
      );
    }
    const [rows = 0, cols = 0] = want.shape;
    const decode = isMatrixSlot(want.slot)
      ? (bytes: Uint8Array) =>
          packedMatrix(DTYPE_TYPE[dtype], rows, cols, alignedCopy(bytes), want.name)
      : (bytes: Uint8Array) => toFloat32(bytes, dtype);
    return {
      name: want.name,
      slot: want.slot,
      source,
      offset: entry.offset,
      sizeBytes: entry.sizeBytes,
      decode,
    };
  });
}

/** A copy of the bytes in their own buffer (4-byte aligned; the read buffer is not kept alive). */
function alignedCopy(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}

/** The validated reads of a shard's tensors, from a safetensors directory or a GGUF file. */
export async function shardTensorReads(
  dir: ModelDir,
  config: ModelConfig,
  range: LayerRange,
  signal?: AbortSignal,
): Promise<TensorRead[]> {
  checkRange(config, range);
  if (isGgufModelDir(dir)) return ggufShardReads(dir, config, range, signal);
  return safetensorsShardReads(dir, config, range, signal);
}

/** Loads the weights of one shard. Rejects with a coded error and returns nothing on any failure. */
export async function loadShardWeights(
  dir: ModelDir,
  config: ModelConfig,
  range: LayerRange,
  options: LoadWeightsOptions = {},
): Promise<ShardWeights> {
  const reads = await shardTensorReads(dir, config, range, options.signal);
  return collectWeights(reads, range, options);
}

/**
 * Loads one shard unit by unit (embeddings, each layer, head), handing each unit to `consumer` before the
 * next is read, so the caller can upload and drop it.
 */
export async function streamShardWeights(
  dir: ModelDir,
  config: ModelConfig,
  range: LayerRange,
  consumer: WeightConsumer,
  options: LoadWeightsOptions = {},
): Promise<void> {
  const reads = await shardTensorReads(dir, config, range, options.signal);
  await streamWeights(reads, consumer, options);
}
