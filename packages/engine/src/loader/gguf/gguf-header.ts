// GGUF header reader (versions 2 and 3, little-endian): magic, metadata key/values of every value type
// (nested arrays included) and tensor infos, read forward from the start of a ByteSource in growing ranges
// (never the whole file), validated (counts, lengths, alignment, offsets, overlaps) before anything trusts
// them. Also typed accessors for metadata values. Not a tensor loader: no tensor data is read here.

import { EngineError, type EngineErrorCode, throwIfAborted } from "../../errors.ts";
import { TENSOR_TYPES, type TensorType, tensorTypeOfGgml } from "../../quant/tensor-type.ts";
import type { ByteSource } from "../byte-source.ts";

export const GGUF_MAGIC = "GGUF";
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** First read of the header, in bytes (small models have small headers); doubled while it needs more. */
export const GGUF_FIRST_READ_BYTES = 16 * 1024;
/** Largest single growth step, so a big header over-reads at most this much tensor data. */
export const GGUF_MAX_READ_STEP_BYTES = 4 * 1024 * 1024;
/** Largest header (metadata + tensor infos) this reader accepts. */
export const GGUF_MAX_HEADER_BYTES = 64 * 1024 * 1024;
const MAX_DIMS = 4;
const MAX_KEY_BYTES = 65535;
/** Deepest nesting of arrays accepted in metadata. */
const MAX_ARRAY_DEPTH = 8;

/** Metadata value types, by their GGUF id. */
export const GGUF_VALUE_TYPES = [
  "u8",
  "i8",
  "u16",
  "i16",
  "u32",
  "i32",
  "f32",
  "bool",
  "string",
  "array",
  "u64",
  "i64",
  "f64",
] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufNumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type GgufBigIntType = "u64" | "i64";

/**
 * A metadata value as read: integer types up to 32 bits and floats as numbers, u64/i64 as bigints, bool,
 * string, and arrays (possibly nested) as JavaScript arrays of those.
 */
export type GgufValue = number | bigint | boolean | string | readonly GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Dimensions, innermost (ne0, the row length) first. */
  dims: number[];
  ggmlType: number;
  /** The engine's storage type, or undefined when the engine cannot hold this ggml type. */
  type: TensorType | undefined;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  sizeBytes: number;
}

export interface GgufHeader {
  location: string;
  version: number;
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataStart: number;
  fileSizeBytes: number;
  metadata: ReadonlyMap<string, GgufValue>;
  /** In tensor-info order. */
  tensors: ReadonlyMap<string, GgufTensorInfo>;
}

/**
 * Block geometry of every ggml type (elements, bytes per block), so sizes are known even for types the
 * engine cannot hold. Ids 4, 5 and 31-33 are retired.
 */
const GGML_BLOCKS: ReadonlyMap<number, { name: string; elems: number; bytes: number }> = new Map([
  [0, { name: "F32", elems: 1, bytes: 4 }],
  [1, { name: "F16", elems: 1, bytes: 2 }],
  [2, { name: "Q4_0", elems: 32, bytes: 18 }],
  [3, { name: "Q4_1", elems: 32, bytes: 20 }],
  [6, { name: "Q5_0", elems: 32, bytes: 22 }],
  [7, { name: "Q5_1", elems: 32, bytes: 24 }],
  [8, { name: "Q8_0", elems: 32, bytes: 34 }],
  [9, { name: "Q8_1", elems: 32, bytes: 36 }],
  [10, { name: "Q2_K", elems: 256, bytes: 84 }],
  [11, { name: "Q3_K", elems: 256, bytes: 110 }],
  [12, { name: "Q4_K", elems: 256, bytes: 144 }],
  [13, { name: "Q5_K", elems: 256, bytes: 176 }],
  [14, { name: "Q6_K", elems: 256, bytes: 210 }],
  [15, { name: "Q8_K", elems: 256, bytes: 292 }],
  [16, { name: "IQ2_XXS", elems: 256, bytes: 66 }],
  [17, { name: "IQ2_XS", elems: 256, bytes: 74 }],
  [18, { name: "IQ3_XXS", elems: 256, bytes: 98 }],
  [19, { name: "IQ1_S", elems: 256, bytes: 50 }],
  [20, { name: "IQ4_NL", elems: 32, bytes: 18 }],
  [21, { name: "IQ3_S", elems: 256, bytes: 110 }],
  [22, { name: "IQ2_S", elems: 256, bytes: 82 }],
  [23, { name: "IQ4_XS", elems: 256, bytes: 136 }],
  [24, { name: "I8", elems: 1, bytes: 1 }],
  [25, { name: "I16", elems: 1, bytes: 2 }],
  [26, { name: "I32", elems: 1, bytes: 4 }],
  [27, { name: "I64", elems: 1, bytes: 8 }],
  [28, { name: "F64", elems: 1, bytes: 8 }],
  [29, { name: "IQ1_M", elems: 256, bytes: 56 }],
  [30, { name: "BF16", elems: 1, bytes: 2 }],
  [34, { name: "TQ1_0", elems: 256, bytes: 54 }],
  [35, { name: "TQ2_0", elems: 256, bytes: 66 }],
  [39, { name: "MXFP4", elems: 32, bytes: 17 }],
]);

/** The name GGUF tools print for a ggml type id (e.g. "Q4_K"), or "type <id>" when unknown. */
export function ggmlTypeName(ggmlType: number): string {
  return GGML_BLOCKS.get(ggmlType)?.name ?? `type ${ggmlType}`;
}

/** The engine's type of a tensor; ERR_GGUF_TENSOR_TYPE naming tensor and type when it has none. */
export function requireTensorType(info: GgufTensorInfo): TensorType {
  if (info.type === undefined) {
    const held = Object.values(TENSOR_TYPES)
      .map((t) => t.ggmlName)
      .join(", ");
    throw new EngineError(
      "ERR_GGUF_TENSOR_TYPE",
      `tensor ${info.name} is stored as ${ggmlTypeName(info.ggmlType)}, which this engine cannot hold (it holds ${held})`,
    );
  }
  return info.type;
}

/** Thrown inside the synchronous parser when the bytes read so far end before the header does. */
class NeedMore extends Error {
  readonly end: number;
  constructor(end: number) {
    super(`the header continues past byte ${end}`);
    this.end = end;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Synchronous cursor over the file's first `bytes.length` bytes of `fileSize`. */
class Cursor {
  pos = 0;
  readonly bytes: Uint8Array;
  readonly fileSize: number;
  readonly location: string;
  readonly #view: DataView;

  constructor(bytes: Uint8Array, fileSize: number, location: string) {
    this.bytes = bytes;
    this.fileSize = fileSize;
    this.location = location;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes of the file after the cursor (not only of the prefix in memory). */
  remainingInFile(): number {
    return this.fileSize - this.pos;
  }

  need(n: number, what: string): number {
    const at = this.pos;
    const end = at + n;
    if (end > this.fileSize) {
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: the GGUF header runs past the end of the file (${what} needs bytes ${at}..${end}, the file has ${this.fileSize})`,
      );
    }
    if (end > this.bytes.length) throw new NeedMore(end);
    this.pos = end;
    return at;
  }

  u8(what: string): number {
    return this.#view.getUint8(this.need(1, what));
  }
  u32(what: string): number {
    return this.#view.getUint32(this.need(4, what), true);
  }
  u64(what: string): bigint {
    return this.#view.getBigUint64(this.need(8, what), true);
  }
  /**
   * A u64 count of items of at least `minBytes` each: ERR_WEIGHTS_FORMAT when absurd (above 2^32),
   * ERR_WEIGHTS_TRUNCATED when the rest of the file cannot hold that many. Nothing is allocated first.
   */
  count(what: string, minBytes: number): number {
    const v = this.u64(what);
    if (v > 2n ** 32n) {
      throw new EngineError(
        "ERR_WEIGHTS_FORMAT",
        `${this.location}: ${what} is ${v}, absurdly large`,
      );
    }
    const n = Number(v);
    if (n * minBytes > this.remainingInFile()) {
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: ${what} is ${n}, more than the ${this.remainingInFile()} bytes left in the file can hold`,
      );
    }
    return n;
  }
  /** A u64 that must be a safe integer. */
  safeU64(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new EngineError("ERR_WEIGHTS_FORMAT", `${this.location}: ${what} is ${v}, too large`);
    }
    return Number(v);
  }

  string(what: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const len = this.u64(`${what} length`);
    if (len > BigInt(this.remainingInFile())) {
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: ${what} claims ${len} bytes at byte ${this.pos}, past the end of the file (${this.fileSize} bytes)`,
      );
    }
    const n = Number(len);
    if (n > maxBytes) {
      throw new EngineError(
        "ERR_WEIGHTS_FORMAT",
        `${this.location}: ${what} is ${n} bytes long, more than ${maxBytes}`,
      );
    }
    const at = this.need(n, what);
    try {
      return UTF8.decode(this.bytes.subarray(at, at + n));
    } catch (e) {
      throw new EngineError(
        "ERR_WEIGHTS_FORMAT",
        `${this.location}: ${what} at byte ${at} is not valid UTF-8`,
        {
          cause: e,
        },
      );
    }
  }

  scalar(type: GgufValueType, what: string, depth = 0): GgufValue {
    const v = this.#view;
    switch (type) {
      case "u8":
        return v.getUint8(this.need(1, what));
      case "i8":
        return v.getInt8(this.need(1, what));
      case "u16":
        return v.getUint16(this.need(2, what), true);
      case "i16":
        return v.getInt16(this.need(2, what), true);
      case "u32":
        return v.getUint32(this.need(4, what), true);
      case "i32":
        return v.getInt32(this.need(4, what), true);
      case "f32":
        return v.getFloat32(this.need(4, what), true);
      case "f64":
        return v.getFloat64(this.need(8, what), true);
      case "u64":
        return v.getBigUint64(this.need(8, what), true);
      case "i64":
        return v.getBigInt64(this.need(8, what), true);
      case "bool": {
        const b = v.getUint8(this.need(1, what));
        if (b > 1) {
          throw new EngineError(
            "ERR_WEIGHTS_FORMAT",
            `${this.location}: ${what} is a bool with byte value ${b}`,
          );
        }
        return b === 1;
      }
      case "string":
        return this.string(what);
      case "array":
        return this.array(what, depth + 1);
    }
  }

  valueType(what: string): GgufValueType {
    const id = this.u32(`${what} type`);
    const type = GGUF_VALUE_TYPES[id];
    if (type === undefined) {
      throw new EngineError(
        "ERR_WEIGHTS_FORMAT",
        `${this.location}: ${what} has unknown value type ${id}`,
      );
    }
    return type;
  }

  array(what: string, depth: number): GgufValue[] {
    if (depth > MAX_ARRAY_DEPTH) {
      throw new EngineError(
        "ERR_WEIGHTS_FORMAT",
        `${this.location}: ${what} nests arrays deeper than ${MAX_ARRAY_DEPTH}`,
      );
    }
    const itemType = this.valueType(`${what} element`);
    // The smallest encoding of one element bounds the count by the bytes left in the file, so a lying
    // count fails here instead of allocating.
    const minBytes = MIN_VALUE_BYTES[itemType];
    const n = this.count(`${what} element count`, minBytes);
    const items: GgufValue[] = [];
    for (let i = 0; i < n; i++) items.push(this.scalar(itemType, `${what}[${i}]`, depth));
    return items;
  }
}

const MIN_VALUE_BYTES: Readonly<Record<GgufValueType, number>> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
  string: 8,
  array: 12,
};

function formatError(location: string, detail: string): EngineError {
  return new EngineError("ERR_WEIGHTS_FORMAT", `${location}: ${detail}`);
}

interface RawTensor {
  name: string;
  dims: number[];
  ggmlType: number;
  relOffset: number;
}

interface Parsed {
  version: number;
  metadata: Map<string, GgufValue>;
  raw: RawTensor[];
  end: number;
}

/** Parse progress kept across growing reads, so items already parsed are never parsed again. */
interface Progress {
  /** The byte after the last whole item parsed. */
  pos: number;
  /** 0 until the preamble (magic, version, counts) is parsed. */
  version: number;
  tensorCount: number;
  kvCount: number;
  metadata: Map<string, GgufValue>;
  raw: RawTensor[];
  names: Set<string>;
}

function newProgress(): Progress {
  return {
    pos: 0,
    version: 0,
    tensorCount: 0,
    kvCount: 0,
    metadata: new Map(),
    raw: [],
    names: new Set(),
  };
}

/** Parses on from `p`; throws NeedMore (progress kept) when the bytes in memory end first. */
function parseHeader(c: Cursor, p: Progress): Parsed {
  const loc = c.location;
  c.pos = p.pos;
  if (p.version === 0) {
    const magic = String.fromCharCode(...c.bytes.subarray(c.need(4, "magic"), 4));
    if (magic === "FUGG") throw formatError(loc, "big-endian GGUF files are unsupported");
    if (magic !== GGUF_MAGIC) {
      throw formatError(loc, `not a GGUF file (magic ${JSON.stringify(magic)})`);
    }
    const version = c.u32("version");
    if ((version & 0xffff) === 0 && version !== 0) {
      throw formatError(
        loc,
        `the version field reads ${version} (byte-swapped): big-endian GGUF files are unsupported`,
      );
    }
    if (version === 1) throw formatError(loc, "GGUF version 1 is unsupported (only 2 and 3)");
    if (version !== 2 && version !== 3) {
      throw formatError(loc, `GGUF version ${version} is unsupported (only 2 and 3)`);
    }
    // Minimal encodings: a tensor info is >= 24 bytes, a key/value >= 13 bytes.
    p.tensorCount = c.count("tensor count", 24);
    p.kvCount = c.count("metadata count", 13);
    p.version = version;
    p.pos = c.pos;
  }
  const { metadata, raw, names } = p;
  while (metadata.size < p.kvCount) {
    const i = metadata.size;
    const key = c.string(`metadata key #${i}`, MAX_KEY_BYTES);
    const type = c.valueType(`metadata ${key}`);
    const value = c.scalar(type, `metadata ${key}`);
    if (metadata.has(key)) throw formatError(loc, `metadata key ${key} appears twice`);
    metadata.set(key, value);
    p.pos = c.pos;
  }
  while (raw.length < p.tensorCount) {
    const name = c.string(`tensor name #${raw.length}`, MAX_KEY_BYTES);
    if (names.has(name)) throw formatError(loc, `tensor ${name} appears twice`);
    const nDims = c.u32(`tensor ${name} dimension count`);
    if (nDims > MAX_DIMS) {
      throw formatError(loc, `tensor ${name} has ${nDims} dimensions (at most ${MAX_DIMS})`);
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      dims.push(c.safeU64(`tensor ${name} dimension ${d}`));
    }
    const ggmlType = c.u32(`tensor ${name} type`);
    const relOffset = c.safeU64(`tensor ${name} offset`);
    raw.push({ name, dims, ggmlType, relOffset });
    names.add(name);
    p.pos = c.pos;
  }
  return { version: p.version, metadata, raw, end: c.pos };
}

function alignmentOf(location: string, metadata: ReadonlyMap<string, GgufValue>): number {
  const v = metadata.get("general.alignment");
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = typeof v === "bigint" ? Number(v) : v;
  if (
    typeof a !== "number" ||
    !Number.isInteger(a) ||
    a <= 0 ||
    a > 2 ** 30 ||
    (a & (a - 1)) !== 0
  ) {
    throw formatError(location, `general.alignment must be a power of two, got ${describe(v)}`);
  }
  return a;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function tensorInfos(
  location: string,
  raw: readonly RawTensor[],
  dataStart: number,
  alignment: number,
  fileSize: number,
): Map<string, GgufTensorInfo> {
  const out = new Map<string, GgufTensorInfo>();
  const unsized: GgufTensorInfo[] = [];
  for (const t of raw) {
    if (t.relOffset % alignment !== 0) {
      throw formatError(
        location,
        `tensor ${t.name} has offset ${t.relOffset}, not a multiple of the alignment ${alignment}`,
      );
    }
    const offset = dataStart + t.relOffset;
    if (!Number.isSafeInteger(offset) || offset > fileSize) {
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${location}: tensor ${t.name} starts at byte ${offset}, past the end of the file (${fileSize} bytes)`,
      );
    }
    let elems = 1;
    for (const d of t.dims) elems *= d;
    if (!Number.isSafeInteger(elems)) {
      throw formatError(
        location,
        `tensor ${t.name} has dims [${t.dims.join(", ")}], too many elements`,
      );
    }
    const block = GGML_BLOCKS.get(t.ggmlType);
    const info: GgufTensorInfo = {
      name: t.name,
      dims: t.dims,
      ggmlType: t.ggmlType,
      type: tensorTypeOfGgml(t.ggmlType),
      offset,
      sizeBytes: 0,
    };
    if (block === undefined) {
      // Unknown geometry: the tensor can only be sized by the next tensor (or the end of the file).
      unsized.push(info);
    } else {
      const ne0 = t.dims[0] ?? 1;
      if (ne0 % block.elems !== 0) {
        throw formatError(
          location,
          `tensor ${t.name} has rows of ${ne0} elements, not whole ${block.name} blocks of ${block.elems}`,
        );
      }
      info.sizeBytes = (elems / block.elems) * block.bytes;
      if (offset + info.sizeBytes > fileSize) {
        throw new EngineError(
          "ERR_WEIGHTS_TRUNCATED",
          `${location}: tensor ${t.name} needs bytes ${offset}..${offset + info.sizeBytes}, the file has ${fileSize}`,
        );
      }
    }
    out.set(t.name, info);
  }
  const byOffset = [...out.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < byOffset.length; i++) {
    const t = byOffset[i] as GgufTensorInfo;
    const next = byOffset[i + 1];
    if (unsized.includes(t)) t.sizeBytes = (next?.offset ?? fileSize) - t.offset;
    if (next !== undefined && t.offset + t.sizeBytes > next.offset) {
      throw formatError(
        location,
        `tensors ${t.name} (bytes ${t.offset}..${t.offset + t.sizeBytes}) and ${next.name} (from ${next.offset}) overlap`,
      );
    }
  }
  return out;
}

async function readMore(
  source: ByteSource,
  have: Uint8Array,
  end: number,
  fileSize: number,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const step = (n: number): number =>
    n + Math.min(Math.max(n, GGUF_FIRST_READ_BYTES), GGUF_MAX_READ_STEP_BYTES);
  let want = step(have.length);
  while (want < end) want = step(want);
  if (end > GGUF_MAX_HEADER_BYTES) {
    throw formatError(
      source.location,
      `the GGUF header is larger than ${GGUF_MAX_HEADER_BYTES} bytes (still going at byte ${end})`,
    );
  }
  want = Math.min(want, GGUF_MAX_HEADER_BYTES, fileSize);
  throwIfAborted(signal, `reading ${source.location}`);
  const more = await source.read(have.length, want - have.length, signal);
  const bytes = new Uint8Array(want);
  bytes.set(have);
  bytes.set(more, have.length);
  return bytes;
}

/**
 * Reads and validates a GGUF file's header: metadata and tensor infos. Reads forward from byte 0 in
 * growing ranges (GGUF_FIRST_READ_BYTES, doubling, steps of at most GGUF_MAX_READ_STEP_BYTES) up to
 * GGUF_MAX_HEADER_BYTES; each range starts where the last ended, and no tensor data is read on purpose.
 * Malformed headers are ERR_WEIGHTS_FORMAT, headers or tensors past the end of the file
 * ERR_WEIGHTS_TRUNCATED.
 */
export async function readGgufHeader(
  source: ByteSource,
  signal?: AbortSignal,
): Promise<GgufHeader> {
  throwIfAborted(signal, `reading ${source.location}`);
  const fileSize = await source.size(signal);
  let bytes: Uint8Array = new Uint8Array(0);
  let parsed: Parsed | undefined;
  const progress = newProgress();
  while (parsed === undefined) {
    try {
      parsed = parseHeader(new Cursor(bytes, fileSize, source.location), progress);
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      bytes = await readMore(source, bytes, e.end, fileSize, signal);
    }
  }
  const alignment = alignmentOf(source.location, parsed.metadata);
  const dataStart = alignUp(parsed.end, alignment);
  if (dataStart > fileSize && parsed.raw.length > 0) {
    throw new EngineError(
      "ERR_WEIGHTS_TRUNCATED",
      `${source.location}: tensor data would start at byte ${dataStart}, the file has ${fileSize}`,
    );
  }
  return {
    location: source.location,
    version: parsed.version,
    alignment,
    dataStart,
    fileSizeBytes: fileSize,
    metadata: parsed.metadata,
    tensors: tensorInfos(source.location, parsed.raw, dataStart, alignment, fileSize),
  };
}

// ---- Typed metadata accessors ----

function describe(v: GgufValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === "string"
    ? `the string ${JSON.stringify(v.slice(0, 40))}`
    : `${typeof v} ${String(v)}`;
}

function wrongType(
  code: EngineErrorCode,
  header: GgufHeader,
  key: string,
  v: GgufValue,
  want: string,
): EngineError {
  return new EngineError(
    code,
    `${header.location}: GGUF metadata ${key} is ${describe(v)}, expected ${want}`,
  );
}

/**
 * The value at `key` as `cast` reads it: undefined when absent; `code` (naming the key, what it holds and
 * `want`) when present but `cast` cannot read it.
 */
function typed<T>(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode,
  want: string,
  cast: (v: GgufValue) => T | undefined,
): T | undefined {
  const v = header.metadata.get(key);
  if (v === undefined) return undefined;
  const t = cast(v);
  if (t === undefined) throw wrongType(code, header, key, v, want);
  return t;
}

/** A number of a numeric metadata value (bigints converted), or undefined. */
function numeric(v: GgufValue): number | undefined {
  const n = typeof v === "bigint" ? Number(v) : v;
  return typeof n === "number" ? n : undefined;
}

/** A string value, undefined when absent; `code` when present with another type. */
export function ggufString(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): string | undefined {
  return typed(header, key, code, "a string", (v) => (typeof v === "string" ? v : undefined));
}

/** An integer of any integer type (a safe integer), undefined when absent. */
export function ggufInt(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): number | undefined {
  return typed(header, key, code, "an integer", (v) => {
    const n = numeric(v);
    return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
  });
}

/** A number of any numeric type, undefined when absent. */
export function ggufNumber(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): number | undefined {
  return typed(header, key, code, "a number", numeric);
}

export function ggufBool(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): boolean | undefined {
  return typed(header, key, code, "a bool", (v) => (typeof v === "boolean" ? v : undefined));
}

/** An array of strings, undefined when absent. */
export function ggufStringArray(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): readonly string[] | undefined {
  return typed(header, key, code, "an array of strings", (v) =>
    Array.isArray(v) && v.every((x) => typeof x === "string")
      ? (v as readonly string[])
      : undefined,
  );
}

/** An array of numbers (any numeric element type), undefined when absent. */
export function ggufNumberArray(
  header: GgufHeader,
  key: string,
  code: EngineErrorCode = "ERR_WEIGHTS_FORMAT",
): readonly number[] | undefined {
  return typed(header, key, code, "an array of numbers", (v) => {
    if (!Array.isArray(v)) return undefined;
    const arr = v as readonly GgufValue[];
    if (arr.every((x) => typeof x === "number")) return arr;
    return arr.every((x) => typeof x === "bigint") ? arr.map((x) => Number(x)) : undefined;
  });
}
