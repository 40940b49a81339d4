// A small GGUF writer for tests: metadata of every value type (nested arrays too), tensor infos, alignment
// padding and raw tensor bytes, built in memory. Knobs let tests write deliberately broken files (counts,
// offsets, version). Not a quantizer: tensor bytes are given as they are to be stored.

import {
  GGUF_VALUE_TYPES,
  type GgufValue,
  type GgufValueType,
} from "../../src/loader/gguf/gguf-header.ts";

/** A metadata value with its GGUF type (the reader returns plain values; the writer needs the type). */
export type TypedValue =
  { type: Exclude<GgufValueType, "array">; value: number | bigint | boolean | string } | TypedArray;

export interface TypedArray {
  type: "array";
  itemType: GgufValueType;
  /** Plain values; for itemType "array", nested TypedArrays. */
  items: readonly (number | bigint | boolean | string | TypedArray)[];
}

/** The plain value the reader returns for a typed value. */
export function plainValue(v: TypedValue): GgufValue {
  if (v.type !== "array") return v.value;
  return v.items.map((x) => (typeof x === "object" ? plainValue(x) : x));
}

export interface GgufWriteTensor {
  name: string;
  /** ne0 first. */
  dims: number[];
  ggmlType: number;
  data: Uint8Array;
  /** Offset relative to the data section; default: packed in order, each padded to the alignment. */
  offset?: number;
}

export interface GgufWriteOptions {
  version?: number;
  metadata?: Iterable<readonly [string, TypedValue]>;
  tensors?: readonly GgufWriteTensor[];
  /** Padding alignment; default general.alignment from the metadata, else 32. */
  alignment?: number;
  /** Override the counts written in the header (to make them lie). */
  tensorCount?: bigint;
  kvCount?: bigint;
  /** Override the magic (4 ASCII characters). */
  magic?: string;
}

/** Value constructors. */
export const gv = {
  u8: (value: number): TypedValue => ({ type: "u8", value }),
  i8: (value: number): TypedValue => ({ type: "i8", value }),
  u16: (value: number): TypedValue => ({ type: "u16", value }),
  i16: (value: number): TypedValue => ({ type: "i16", value }),
  u32: (value: number): TypedValue => ({ type: "u32", value }),
  i32: (value: number): TypedValue => ({ type: "i32", value }),
  f32: (value: number): TypedValue => ({ type: "f32", value }),
  f64: (value: number): TypedValue => ({ type: "f64", value }),
  u64: (value: bigint): TypedValue => ({ type: "u64", value }),
  i64: (value: bigint): TypedValue => ({ type: "i64", value }),
  bool: (value: boolean): TypedValue => ({ type: "bool", value }),
  str: (value: string): TypedValue => ({ type: "string", value }),
  arr: (itemType: GgufValueType, items: TypedArray["items"]): TypedArray => ({
    type: "array",
    itemType,
    items,
  }),
};

class ByteWriter {
  #buf = new Uint8Array(1024);
  length = 0;

  #grow(n: number): number {
    const at = this.length;
    if (at + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
    }
    this.length += n;
    return at;
  }

  /** A view of `n` fresh bytes at the end (taken after growing). */
  #at(n: number): DataView {
    const at = this.#grow(n);
    return new DataView(this.#buf.buffer, at, n);
  }

  bytes(b: Uint8Array): void {
    const at = this.#grow(b.length);
    this.#buf.set(b, at);
  }
  u8(v: number): void {
    this.#at(1).setUint8(0, v);
  }
  u32(v: number): void {
    this.#at(4).setUint32(0, v, true);
  }
  u64(v: bigint | number): void {
    this.#at(8).setBigUint64(0, BigInt(v), true);
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const rem = this.length % alignment;
    if (rem !== 0) this.#grow(alignment - rem);
  }
  scalar(type: GgufValueType, v: TypedArray["items"][number]): void {
    switch (type) {
      case "u8":
        return this.#at(1).setUint8(0, v as number);
      case "i8":
        return this.#at(1).setInt8(0, v as number);
      case "u16":
        return this.#at(2).setUint16(0, v as number, true);
      case "i16":
        return this.#at(2).setInt16(0, v as number, true);
      case "u32":
        return this.#at(4).setUint32(0, v as number, true);
      case "i32":
        return this.#at(4).setInt32(0, v as number, true);
      case "f32":
        return this.#at(4).setFloat32(0, v as number, true);
      case "f64":
        return this.#at(8).setFloat64(0, v as number, true);
      case "u64":
        return this.#at(8).setBigUint64(0, v as bigint, true);
      case "i64":
        return this.#at(8).setBigInt64(0, v as bigint, true);
      case "bool":
        return this.u8(v === true ? 1 : 0);
      case "string":
        return this.string(v as string);
      case "array": {
        const a = v as TypedArray;
        this.u32(GGUF_VALUE_TYPES.indexOf(a.itemType));
        this.u64(a.items.length);
        for (const item of a.items) this.scalar(a.itemType, item);
        return;
      }
    }
  }
  value(v: TypedValue): void {
    this.u32(GGUF_VALUE_TYPES.indexOf(v.type));
    this.scalar(v.type, v.type === "array" ? v : v.value);
  }
  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Writes a whole GGUF file into memory. */
export function writeGguf(opts: GgufWriteOptions = {}): Uint8Array {
  const metadata = [...(opts.metadata ?? [])];
  const tensors = opts.tensors ?? [];
  const alignMeta = metadata.find(([k]) => k === "general.alignment")?.[1];
  const alignment =
    opts.alignment ?? (alignMeta?.type === "u32" ? (alignMeta.value as number) : 32);
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode(opts.magic ?? "GGUF"));
  w.u32(opts.version ?? 3);
  w.u64(opts.tensorCount ?? BigInt(tensors.length));
  w.u64(opts.kvCount ?? BigInt(metadata.length));
  for (const [key, value] of metadata) {
    w.string(key);
    w.value(value);
  }
  const offsets: number[] = [];
  let next = 0;
  for (const t of tensors) {
    const off = t.offset ?? next;
    offsets.push(off);
    next = Math.ceil((off + t.data.length) / alignment) * alignment;
  }
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.ggmlType);
    w.u64(offsets[i] ?? 0);
  });
  w.pad(alignment);
  const dataStart = w.length;
  const end = tensors.reduce((m, t, i) => Math.max(m, (offsets[i] ?? 0) + t.data.length), 0);
  const out = new Uint8Array(dataStart + Math.ceil(end / alignment) * alignment);
  out.set(w.result());
  tensors.forEach((t, i) => out.set(t.data, dataStart + (offsets[i] ?? 0)));
  return out;
}

/** The bytes of a float32 array. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const f = Float32Array.from(values);
  return new Uint8Array(f.buffer);
}
