// A GGUF file as a model "directory": GgufModelDir wraps the file's ByteSource (a local file or an HTTP
// URL) and parses its header once; the model loaders (config, tokenizer, stop ids, shard weights) branch
// on it, so every place that opens a model by location also accepts a `.gguf` path or URL. Also the
// shard's tensor reads from GGUF tensor infos: names, shapes checked against the config, types as stored,
// and llama-arch Q/K rows moved back to Hugging Face order (whole rows, no dequantization).

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { LayerRange } from "../model/shard-spec.ts";
import type { TensorRead, WeightSlot } from "./weight-reads.ts";
import { packedMatrix } from "../quant/tensor-type.ts";
import { dequantizeVector } from "../quant/dequant.ts";
import type { ByteSource, ModelDir } from "./byte-source.ts";
import {
  ggufString,
  readGgufHeader,
  requireTensorType,
  type GgufHeader,
} from "./gguf/gguf-header.ts";
import { ggufModelConfig } from "./gguf/gguf-config.ts";
import { ggufTensorName, unpermuteQkBias, unpermuteQkRows } from "./gguf/gguf-tensors.ts";
import { EMBED_TENSOR_NAME } from "../model/weights.ts";
import { isMatrixSlot, shardTensorList } from "./shard-tensors.ts";

/** Whether a model location (a path or URL) names a GGUF file. */
export function isGgufLocation(location: string): boolean {
  let path = location;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    try {
      path = new URL(location).pathname;
    } catch {
      return false;
    }
  }
  return /\.gguf$/i.test(path);
}

function baseName(location: string): string {
  const path = location.replace(/[?#].*$/, "");
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

/** A GGUF file opened as a model: the header is read once (small growing ranges, never the whole file). */
export class GgufModelDir implements ModelDir {
  readonly location: string;
  readonly file: ByteSource;
  #header: Promise<GgufHeader> | undefined;
  #config: Promise<ModelConfig> | undefined;

  constructor(file: ByteSource, location = file.location) {
    this.file = file;
    this.location = location;
  }

  header(signal?: AbortSignal): Promise<GgufHeader> {
    if (this.#header === undefined) {
      const p = readGgufHeader(this.file, signal);
      this.#header = p;
      p.catch(() => {
        if (this.#header === p) this.#header = undefined; // a failed read may be retried
      });
    }
    return this.#header;
  }

  /** The model config from the metadata (and the rope_freqs tensor when the file has one). */
  config(signal?: AbortSignal): Promise<ModelConfig> {
    if (this.#config === undefined) {
      const p = this.#loadConfig(signal);
      this.#config = p;
      p.catch(() => {
        if (this.#config === p) this.#config = undefined;
      });
    }
    return this.#config;
  }

  async #loadConfig(signal?: AbortSignal): Promise<ModelConfig> {
    const header = await this.header(signal);
    const freqs = header.tensors.get("rope_freqs.weight");
    if (freqs === undefined) return ggufModelConfig(header);
    const type = requireTensorType(freqs);
    const bytes = await this.file.read(freqs.offset, freqs.sizeBytes, signal);
    return ggufModelConfig(header, dequantizeVector(type, bytes, count(freqs.dims)));
  }

  has(): Promise<boolean> {
    return Promise.resolve(false);
  }

  readText(name: string): Promise<string> {
    return Promise.reject(
      new EngineError("ERR_FETCH", `${this.location} is a GGUF file; it has no ${name}`),
    );
  }

  open(name: string): ByteSource {
    if (name === baseName(this.location)) return this.file;
    const location = `${this.location}#${name}`;
    const missing = (): Promise<never> =>
      Promise.reject(
        new EngineError("ERR_FETCH", `${this.location} is a GGUF file; it has no ${name}`),
      );
    return { location, size: missing, read: missing };
  }
}

export function isGgufModelDir(dir: ModelDir): dir is GgufModelDir {
  return dir instanceof GgufModelDir;
}

function count(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** The GGUF tensor name of a slot (a tied LM head reads the embedding table, `token_embd`). */
function tensorNameOf(slot: WeightSlot, hfName: string): string {
  return ggufTensorName(slot === "lmHead" && hfName === EMBED_TENSOR_NAME ? "embed" : slot);
}

/** GGUF dims (ne0 first) of a tensor whose Hugging Face shape is `shape` ([out, in] or [n]). */
function ggufDims(shape: readonly number[]): number[] {
  return [...shape].reverse();
}

/** The byte ranges and decoders of a shard's tensors in a GGUF file, validated before any data is read. */
export async function ggufShardReads(
  dir: GgufModelDir,
  config: ModelConfig,
  range: LayerRange,
  signal?: AbortSignal,
): Promise<TensorRead[]> {
  const header = await dir.header(signal);
  const arch = ggufString(header, "general.architecture");
  const permuted = arch === "llama";
  return shardTensorList(config, range).map((want): TensorRead => {
    const name = tensorNameOf(want.slot, want.name);
    const info = header.tensors.get(name);
    if (info === undefined) {
      throw new EngineError("ERR_WEIGHTS_MISSING", `${dir.location}: no tensor ${name}`);
    }
    const dims = ggufDims(want.shape);
    if (info.dims.length !== dims.length || info.dims.some((d, i) => d !== dims[i])) {
      throw new EngineError(
        "ERR_WEIGHTS_SHAPE",
        `${dir.location}: tensor ${name} has dims [${info.dims.join(", ")}], the hyper-parameters imply [${dims.join(", ")}]`,
      );
    }
    const type = requireTensorType(info);
    const slot = want.slot;
    const kind = typeof slot === "object" ? slot.kind : undefined;
    const heads =
      kind === "q" || kind === "qBias"
        ? config.numHeads
        : kind === "k" || kind === "kBias"
          ? config.numKvHeads
          : 0;
    const [rows = 0, cols = 0] = want.shape;
    const decode = isMatrixSlot(slot)
      ? (bytes: Uint8Array) => {
          const m = packedMatrix(type, rows, cols, bytes.slice(), name);
          return permuted && heads > 0 ? unpermuteQkRows(m, heads) : m;
        }
      : (bytes: Uint8Array) => {
          const v = dequantizeVector(type, bytes, rows);
          return permuted && heads > 0 ? unpermuteQkBias(v, heads) : v;
        };
    return { name, slot, source: dir.file, offset: info.offset, sizeBytes: info.sizeBytes, decode };
  });
}
