// safetensors reading: the header of one file (validated: dtypes, shapes, offsets inside the file), the
// sharded index (`model.safetensors.index.json`), and exact conversion of F32/F16/BF16 bytes to float32.
// Reads only the header bytes; which tensors to read is the weights loader's business.

import { EngineError } from "../errors.ts";
import type { ByteSource } from "./byte-source.ts";

export type TensorDtype = "F32" | "F16" | "BF16";

const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Headers beyond this are malformed (real ones are a few hundred KiB at most). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  name: string;
  /** The file's dtype string (only F32, F16, BF16 can be converted). */
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  sizeBytes: number;
}

export interface SafetensorsHeader {
  location: string;
  fileSizeBytes: number;
  /** Bytes of the 8-byte length prefix plus the JSON header. */
  headerBytes: number;
  tensors: ReadonlyMap<string, TensorEntry>;
}

function format(location: string, detail: string): EngineError {
  return new EngineError("ERR_WEIGHTS_FORMAT", `${location}: ${detail}`);
}

/** Reads and validates the header of a safetensors file (two reads: the length, then the JSON). */
export async function readSafetensorsHeader(
  source: ByteSource,
  signal?: AbortSignal,
): Promise<SafetensorsHeader> {
  const loc = source.location;
  const fileSizeBytes = await source.size(signal);
  if (fileSizeBytes < 8) {
    throw new EngineError("ERR_WEIGHTS_TRUNCATED", `${loc}: ${fileSizeBytes} bytes, no header`);
  }
  const prefix = await source.read(0, 8, signal);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const len = Number(view.getBigUint64(0, true));
  if (len < 2 || len > MAX_HEADER_BYTES) throw format(loc, `header length ${len} is implausible`);
  if (8 + len > fileSizeBytes) {
    throw new EngineError(
      "ERR_WEIGHTS_TRUNCATED",
      `${loc}: header declares ${len} bytes but the file has ${fileSizeBytes}`,
    );
  }
  const text = new TextDecoder().decode(await source.read(8, len, signal));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw format(loc, `header is not JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw format(loc, "header is not a JSON object");
  }
  const dataStart = 8 + len;
  const tensors = new Map<string, TensorEntry>();
  let dataEnd = 0;
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const entry = parseEntry(loc, name, raw, dataStart);
    dataEnd = Math.max(dataEnd, entry.offset + entry.sizeBytes);
    tensors.set(name, entry);
  }
  if (dataEnd > fileSizeBytes) {
    throw new EngineError(
      "ERR_WEIGHTS_TRUNCATED",
      `${loc}: tensors end at byte ${dataEnd} but the file has ${fileSizeBytes} bytes`,
    );
  }
  return { location: loc, fileSizeBytes, headerBytes: dataStart, tensors };
}

function parseEntry(loc: string, name: string, raw: unknown, dataStart: number): TensorEntry {
  if (raw === null || typeof raw !== "object") throw format(loc, `tensor ${name}: not an object`);
  const r = raw as Record<string, unknown>;
  const dtype = r["dtype"];
  const shape = r["shape"];
  const offsets = r["data_offsets"];
  if (typeof dtype !== "string") throw format(loc, `tensor ${name}: dtype is missing`);
  const elemBytes = DTYPE_BYTES[dtype];
  if (elemBytes === undefined) throw format(loc, `tensor ${name}: unknown dtype ${dtype}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw format(loc, `tensor ${name}: bad shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw format(loc, `tensor ${name}: bad data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const numel = (shape as number[]).reduce((a, d) => a * d, 1);
  if (end - begin !== numel * elemBytes) {
    throw format(
      loc,
      `tensor ${name}: data_offsets span ${end - begin} bytes, shape ${JSON.stringify(shape)} ${dtype} needs ${numel * elemBytes}`,
    );
  }
  return {
    name,
    dtype,
    shape: shape as number[],
    offset: dataStart + begin,
    sizeBytes: end - begin,
  };
}

/** Parses `model.safetensors.index.json` into tensor name → file name. */
export function parseSafetensorsIndex(text: string, location: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw format(location, `not JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw format(location, "weight_map is missing");
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    // File names stay inside the model directory: no separators, no parent references.
    if (typeof file !== "string" || file === "" || /[/\\]/.test(file) || file.startsWith(".")) {
      throw format(location, `tensor ${name}: bad file name ${JSON.stringify(file)}`);
    }
    out.set(name, file);
  }
  return out;
}

let f16Table: Float32Array | undefined;

/** float16 bit pattern → float32 value, for all 65536 patterns (exact: f16 ⊂ f32). */
function halfTable(): Float32Array {
  if (f16Table !== undefined) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** Converts little-endian tensor bytes to float32 exactly. */
export function toFloat32(bytes: Uint8Array, dtype: TensorDtype): Float32Array {
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case "BF16": {
      const n = bytes.byteLength / 2;
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        bits[i] = (((bytes[2 * i + 1] ?? 0) << 24) | ((bytes[2 * i] ?? 0) << 16)) >>> 0;
      }
      return new Float32Array(bits.buffer);
    }
    case "F16": {
      const table = halfTable();
      const n = bytes.byteLength / 2;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++)
        out[i] = table[(bytes[2 * i] ?? 0) | ((bytes[2 * i + 1] ?? 0) << 8)] ?? 0;
      return out;
    }
    default: {
      const never: never = dtype;
      throw new EngineError("ERR_WEIGHTS_DTYPE", `cannot convert ${String(never)}`);
    }
  }
}

export function isConvertibleDtype(dtype: string): dtype is TensorDtype {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16";
}
