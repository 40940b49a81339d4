// 16-bit float decoding for stored tensors: IEEE binary16 (f16) and bfloat16 (bf16) bit patterns to
// float32 values, exactly (both are subsets of float32). Lookup tables of all 65536 patterns, built on
// first use (256 KiB each). Decoding only; no float32 -> 16-bit rounding lives here.

let halfTable: Float32Array | undefined;
let bfloat16Table: Float32Array | undefined;

/** The float32 value of every f16 bit pattern (index = the 16 bits): subnormals, ±0 and ±inf exact. */
export function f16Table(): Float32Array {
  if (halfTable !== undefined) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToNumber(h);
  halfTable = t;
  return t;
}

/** The float32 value of every bf16 bit pattern (the upper 16 bits of a float32). */
export function bf16Table(): Float32Array {
  if (bfloat16Table !== undefined) return bfloat16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = (h << 16) >>> 0;
  bfloat16Table = new Float32Array(bits.buffer);
  return bfloat16Table;
}

/** One f16 bit pattern's value, computed (no table); NaN patterns give NaN. */
export function f16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Reads the little-endian f16 at `bytes[offset]` (any alignment) as a float32 value. */
export function readF16(bytes: Uint8Array, offset: number): number {
  return f16Table()[(bytes[offset] ?? 0) | ((bytes[offset + 1] ?? 0) << 8)] ?? 0;
}
