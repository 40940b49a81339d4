// Reads a shard's tensors unit by unit (the embedding table, then each layer, then the final norm and LM
// head), each unit's tensors with merged, concurrent byte-range reads, and hands every finished unit to a
// consumer before the next one is read: a backend can upload a layer and drop it, so host memory holds at
// most one unit beyond what is already uploaded. Format-independent: safetensors and GGUF loaders describe
// their tensors as TensorReads. Not a cache.

import { EngineError, throwIfAborted } from "../errors.ts";
import type { PackedMatrix } from "../quant/tensor-type.ts";
import type { LayerTensorKind, LayerWeights, ShardWeights } from "../model/weights.ts";
import type { ByteSource } from "./byte-source.ts";

/** Largest single read; adjacent tensors are merged into one read up to this size. */
const MAX_READ_BYTES = 64 * 1024 * 1024;
const READ_CONCURRENCY = 4;

export type WeightSlot =
  { layer: number; kind: LayerTensorKind } | "embed" | "finalNorm" | "lmHead";

export type WeightValue = Float32Array | PackedMatrix;

/** One tensor to read: where its bytes are and how to turn them into what the backends hold. */
export interface TensorRead {
  name: string;
  slot: WeightSlot;
  source: ByteSource;
  /** Absolute byte offset in the source. */
  offset: number;
  sizeBytes: number;
  decode: (bytes: Uint8Array) => WeightValue;
}

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

/** What a backend does with each unit as it arrives (in order: embed, layers ascending, head). */
export interface WeightConsumer {
  embed?(table: PackedMatrix): void | Promise<void>;
  layer(index: number, weights: LayerWeights): void | Promise<void>;
  head?(finalNorm: Float32Array, lmHead: PackedMatrix): void | Promise<void>;
}

/** Groups reads into units: embed, each layer in order, head (final norm + LM head). */
function unitsOf(reads: readonly TensorRead[]): TensorRead[][] {
  const embed: TensorRead[] = [];
  const head: TensorRead[] = [];
  const layers = new Map<number, TensorRead[]>();
  for (const r of reads) {
    if (r.slot === "embed") embed.push(r);
    else if (r.slot === "finalNorm" || r.slot === "lmHead") head.push(r);
    else {
      const list = layers.get(r.slot.layer) ?? [];
      list.push(r);
      layers.set(r.slot.layer, list);
    }
  }
  const order = [...layers.keys()].sort((a, b) => a - b);
  return [embed, ...order.map((l) => layers.get(l) ?? []), head].filter((u) => u.length > 0);
}

/** Reads one unit's tensors, merging byte-adjacent ones of the same source into one read. */
async function readUnit(
  unit: readonly TensorRead[],
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<Map<string, WeightValue>> {
  const sorted = [...unit].sort(
    (a, b) => a.source.location.localeCompare(b.source.location) || a.offset - b.offset,
  );
  const groups: TensorRead[][] = [];
  for (const r of sorted) {
    const g = groups[groups.length - 1];
    const last = g?.[g.length - 1];
    const start = g?.[0]?.offset ?? 0;
    if (
      g !== undefined &&
      last !== undefined &&
      last.source === r.source &&
      last.offset + last.sizeBytes === r.offset &&
      r.offset + r.sizeBytes - start <= MAX_READ_BYTES
    ) {
      g.push(r);
    } else groups.push([r]);
  }
  const values = new Map<string, WeightValue>();
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < groups.length && !failed) {
      const g = groups[next++] ?? [];
      const first = g[0];
      const last = g[g.length - 1];
      if (first === undefined || last === undefined) continue;
      throwIfAborted(signal, "loading weights");
      const start = first.offset;
      const length = last.offset + last.sizeBytes - start;
      const bytes = await first.source.read(start, length, signal).catch((e: unknown) => {
        failed = true; // the other readers stop at their next group
        throw e;
      });
      for (const r of g) {
        const at = r.offset - start;
        values.set(r.name, r.decode(bytes.subarray(at, at + r.sizeBytes)));
      }
      onBytes(length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, groups.length) }, worker));
  throwIfAborted(signal, "loading weights");
  return values;
}

function isMatrix(v: WeightValue | undefined): v is PackedMatrix {
  return v !== undefined && !(v instanceof Float32Array);
}

function layerOf(index: number, unit: readonly TensorRead[], values: Map<string, WeightValue>) {
  const p: Partial<Record<LayerTensorKind, WeightValue>> = {};
  for (const r of unit) {
    const value = values.get(r.name);
    if (typeof r.slot === "object" && value !== undefined) p[r.slot.kind] = value;
  }
  const { inputNorm, q, k, v, o, postNorm, gate, up, down } = p;
  const vec = (x: WeightValue | undefined): x is Float32Array => x instanceof Float32Array;
  if (
    !vec(inputNorm) ||
    !vec(postNorm) ||
    !isMatrix(q) ||
    !isMatrix(k) ||
    !isMatrix(v) ||
    !isMatrix(o) ||
    !isMatrix(gate) ||
    !isMatrix(up) ||
    !isMatrix(down)
  ) {
    throw new EngineError("ERR_INTERNAL", `layer ${index} is incomplete`);
  }
  const opt = (x: WeightValue | undefined): Float32Array | undefined =>
    x instanceof Float32Array ? x : undefined;
  const w: LayerWeights = { inputNorm, q, k, v, o, postNorm, gate, up, down };
  for (const kind of [
    "qBias",
    "kBias",
    "vBias",
    "oBias",
    "gateBias",
    "upBias",
    "downBias",
  ] as const) {
    const b = opt(p[kind]);
    if (b !== undefined) w[kind] = b;
  }
  return w;
}

/**
 * Reads every tensor unit by unit and hands each unit to the consumer as soon as it is complete. A tied
 * LM head is the embedding table (`tiedHead`): it is read once, with the embed unit when the shard embeds,
 * else with the head unit. Rejects with a coded error on any failure; the consumer may have received some
 * units by then and must discard them.
 */
export async function streamWeights(
  reads: readonly TensorRead[],
  consumer: WeightConsumer,
  options: LoadWeightsOptions = {},
): Promise<void> {
  const { signal, onProgress } = options;
  const totalBytes = reads.reduce((a, r) => a + r.sizeBytes, 0);
  let doneBytes = 0;
  onProgress?.({ doneBytes, totalBytes });
  const onBytes = (n: number): void => {
    doneBytes += n;
    onProgress?.({ doneBytes, totalBytes });
  };
  let embed: PackedMatrix | undefined;
  for (const unit of unitsOf(reads)) {
    const values = await readUnit(unit, signal, onBytes);
    const first = unit[0];
    if (first === undefined) continue;
    if (first.slot === "embed") {
      const table = values.get(first.name);
      if (!isMatrix(table))
        throw new EngineError("ERR_INTERNAL", "embedding table is not a matrix");
      embed = table;
      await consumer.embed?.(table);
    } else if (typeof first.slot === "object") {
      await consumer.layer(first.slot.layer, layerOf(first.slot.layer, unit, values));
    } else {
      const norm = values.get(unit.find((r) => r.slot === "finalNorm")?.name ?? "");
      const headName = unit.find((r) => r.slot === "lmHead")?.name;
      const lmHead = headName === undefined ? embed : values.get(headName);
      if (!(norm instanceof Float32Array) || !isMatrix(lmHead)) {
        throw new EngineError("ERR_INTERNAL", "final norm or LM head is missing");
      }
      await consumer.head?.(norm, lmHead);
    }
  }
}

/** Reads everything into one ShardWeights (the CPU backend keeps it all). */
export async function collectWeights(
  reads: readonly TensorRead[],
  range: { layerStart: number; layerEnd: number; embeds: boolean; tail: boolean },
  options: LoadWeightsOptions = {},
): Promise<ShardWeights> {
  const layers: LayerWeights[] = [];
  let embed: PackedMatrix | undefined;
  let finalNorm: Float32Array | undefined;
  let lmHead: PackedMatrix | undefined;
  await streamWeights(
    reads,
    {
      embed: (t) => {
        embed = t;
      },
      layer: (i, w) => {
        layers[i - range.layerStart] = w;
      },
      head: (n, h) => {
        finalNorm = n;
        lmHead = h;
      },
    },
    options,
  );
  if (layers.length !== range.layerEnd - range.layerStart || layers.some((l) => !l)) {
    throw new EngineError("ERR_INTERNAL", "a layer was not read");
  }
  return {
    layerStart: range.layerStart,
    layerEnd: range.layerEnd,
    embed: range.embeds ? embed : undefined,
    layers,
    finalNorm,
    lmHead,
  };
}
