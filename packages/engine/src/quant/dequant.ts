// CPU dequantization of stored tensor rows (float, legacy 32-element blocks, K-quant super-blocks) to
// float32. The values are bit-identical to gguf-py's numpy dequantizers (gguf.quants.dequantize), which
// compute in float32: each step numpy does in float32 is rounded here with Math.fround, in numpy's order.
// (A float32 op computed in float64 and rounded once is the correctly rounded float32 result, so this is
// exact emulation.) In fact every product in these formats is exact in float32 (an f16 scale has 11
// significant bits, a 6-bit scale and a 5-bit quant add at most 13), so Q8_0, Q4_0, Q5_0 and Q6_K round
// nowhere and Q4_1, Q5_1, Q4_K and Q5_K round only their final + m / - dmin·mn: any evaluation order, or
// an fma, gives the same bits. It is also the CPU backend's hot path: one row at a time, no allocation
// per row, bytes read one at a time so any block alignment works. Not a quantizer, and not the GPU
// kernels (src/kernels/).

import { EngineError } from "../errors.ts";
import { bf16Table, f16Table } from "./f16.ts";
import {
  TENSOR_TYPES,
  packedMatrix,
  rowBytes,
  type PackedMatrix,
  type TensorType,
} from "./tensor-type.ts";

const fround = Math.fround;

/**
 * Decodes one stored row of `cols` elements of `type`, starting at `data[byteOffset]` (any alignment),
 * into `out[outOffset .. outOffset + cols)`. `cols` must be a whole number of blocks (ERR_WEIGHTS_SHAPE);
 * a row or output range outside its array is ERR_KERNEL_SHAPE.
 */
export function dequantizeRow(
  type: TensorType,
  data: Uint8Array,
  byteOffset: number,
  cols: number,
  out: Float32Array,
  outOffset = 0,
): void {
  const nbytes = rowBytes(type, cols);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + nbytes > data.byteLength) {
    throw new EngineError(
      "ERR_KERNEL_SHAPE",
      `a ${TENSOR_TYPES[type].ggmlName} row of ${cols} elements at byte ${byteOffset} needs ${nbytes} bytes; ` +
        `the data holds ${data.byteLength}`,
    );
  }
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + cols > out.length) {
    throw new EngineError(
      "ERR_KERNEL_SHAPE",
      `output [${outOffset}, ${outOffset + cols}) lies outside a Float32Array of ${out.length}`,
    );
  }
  const blocks = cols / TENSOR_TYPES[type].blockElems;
  switch (type) {
    case "f32":
      decodeF32(data, byteOffset, cols, out, outOffset);
      return;
    case "f16":
      decode16(f16Table(), data, byteOffset, cols, out, outOffset);
      return;
    case "bf16":
      decode16(bf16Table(), data, byteOffset, cols, out, outOffset);
      return;
    case "q8_0":
      decodeQ8_0(data, byteOffset, blocks, out, outOffset);
      return;
    case "q4_0":
      decodeNibbles(data, byteOffset, blocks, out, outOffset, false, false);
      return;
    case "q4_1":
      decodeNibbles(data, byteOffset, blocks, out, outOffset, true, false);
      return;
    case "q5_0":
      decodeNibbles(data, byteOffset, blocks, out, outOffset, false, true);
      return;
    case "q5_1":
      decodeNibbles(data, byteOffset, blocks, out, outOffset, true, true);
      return;
    case "q4_k":
      decodeK45(data, byteOffset, blocks, out, outOffset, false);
      return;
    case "q5_k":
      decodeK45(data, byteOffset, blocks, out, outOffset, true);
      return;
    case "q6_k":
      decodeQ6_K(data, byteOffset, blocks, out, outOffset);
      return;
    default: {
      const never: never = type;
      throw new EngineError("ERR_WEIGHTS_DTYPE", `cannot dequantize ${String(never)}`);
    }
  }
}

/** The whole matrix as float32 [rows, cols], row-major. */
export function dequantizeMatrix(m: PackedMatrix): Float32Array {
  return dequantizeRows(m, 0, m.rows);
}

/** Rows [row0, row0 + count) of the matrix as float32 [count, cols]. */
export function dequantizeRows(m: PackedMatrix, row0: number, count: number): Float32Array {
  if (!Number.isInteger(m.rows) || m.rows < 0) {
    throw new EngineError("ERR_WEIGHTS_SHAPE", `a matrix cannot have ${m.rows} rows`);
  }
  packedMatrix(m.type, m.rows, m.cols, m.data);
  if (!Number.isInteger(row0) || !Number.isInteger(count) || row0 < 0 || count < 0) {
    throw new EngineError("ERR_KERNEL_SHAPE", `rows [${row0}, +${count}) is not a row range`);
  }
  if (row0 + count > m.rows) {
    throw new EngineError(
      "ERR_KERNEL_SHAPE",
      `rows [${row0}, ${row0 + count}) lie outside a matrix of ${m.rows} rows`,
    );
  }
  const stride = rowBytes(m.type, m.cols);
  const out = new Float32Array(count * m.cols);
  for (let r = 0; r < count; r++) {
    dequantizeRow(m.type, m.data, (row0 + r) * stride, m.cols, out, r * m.cols);
  }
  return out;
}

/** A 1-D tensor of `n` elements (a norm weight, a bias) as float32; `data` must hold exactly n elements. */
export function dequantizeVector(type: TensorType, data: Uint8Array, n: number): Float32Array {
  const want = rowBytes(type, n);
  if (data.byteLength !== want) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${data.byteLength} bytes of ${TENSOR_TYPES[type].ggmlName}, ${n} elements need ${want}`,
    );
  }
  const out = new Float32Array(n);
  dequantizeRow(type, data, 0, n, out, 0);
  return out;
}

// ---- float types

const dataViews = new WeakMap<ArrayBufferLike, DataView>();

/** A DataView over the whole buffer of `bytes`, cached per buffer (no allocation per row). */
function dataViewOf(bytes: Uint8Array): DataView {
  let view = dataViews.get(bytes.buffer);
  if (view === undefined) {
    view = new DataView(bytes.buffer);
    dataViews.set(bytes.buffer, view);
  }
  return view;
}

function decodeF32(data: Uint8Array, p: number, n: number, out: Float32Array, o: number): void {
  const view = dataViewOf(data);
  const base = data.byteOffset + p;
  for (let i = 0; i < n; i++) out[o + i] = view.getFloat32(base + 4 * i, true);
}

/** f16 or bf16: every element is a table lookup of its 16 bits. */
function decode16(
  table: Float32Array,
  data: Uint8Array,
  p: number,
  n: number,
  out: Float32Array,
  o: number,
): void {
  for (let i = 0; i < n; i++, p += 2) {
    out[o + i] = table[(data[p] ?? 0) | ((data[p + 1] ?? 0) << 8)] ?? 0;
  }
}

// ---- legacy 32-element blocks

/** Q8_0 (34 bytes): d f16 @0, qs i8[32] @2. numpy: x * d. */
function decodeQ8_0(
  data: Uint8Array,
  p: number,
  blocks: number,
  out: Float32Array,
  o: number,
): void {
  const half = f16Table();
  for (let b = 0; b < blocks; b++, p += 34, o += 32) {
    const d = half[(data[p] ?? 0) | ((data[p + 1] ?? 0) << 8)] ?? 0;
    for (let i = 0; i < 32; i++) {
      const q = ((data[p + 2 + i] ?? 0) << 24) >> 24;
      out[o + i] = fround(q * d);
    }
  }
}

/** The little-endian u32 at data[p] (any alignment). */
function readU32(data: Uint8Array, p: number): number {
  return (
    ((data[p] ?? 0) |
      ((data[p + 1] ?? 0) << 8) |
      ((data[p + 2] ?? 0) << 16) |
      ((data[p + 3] ?? 0) << 24)) >>>
    0
  );
}

/**
 * The 32-element nibble types, whose element i is the low nibble of qs[i] and i + 16 the high one:
 * Q4_0 (18 bytes: d f16 @0, qs u8[16] @2; numpy d * (q - 8)), Q4_1 (20: d @0, m f16 @2, qs @4; numpy
 * (d * q) + m), Q5_0 (22: d @0, qh u32 @2 whose bit i is the 5th bit of element i, qs @6; numpy
 * d * (q - 16)) and Q5_1 (24: d @0, m @2, qh @4, qs @8; numpy (d * q) + m).
 */
function decodeNibbles(
  data: Uint8Array,
  p: number,
  blocks: number,
  out: Float32Array,
  o: number,
  withMin: boolean,
  fiveBit: boolean,
): void {
  const half = f16Table();
  const qhAt = withMin ? 4 : 2;
  const qsAt = qhAt + (fiveBit ? 4 : 0);
  const blockBytes = qsAt + 16;
  const offset = fiveBit ? 16 : 8;
  for (let b = 0; b < blocks; b++, p += blockBytes, o += 32) {
    const d = half[(data[p] ?? 0) | ((data[p + 1] ?? 0) << 8)] ?? 0;
    const m = withMin ? (half[(data[p + 2] ?? 0) | ((data[p + 3] ?? 0) << 8)] ?? 0) : 0;
    const qh = fiveBit ? readU32(data, p + qhAt) : 0;
    for (let i = 0; i < 16; i++) {
      const byte = data[p + qsAt + i] ?? 0;
      const lo = (byte & 15) | (((qh >>> i) & 1) << 4);
      const hi = (byte >> 4) | (((qh >>> (i + 16)) & 1) << 4);
      if (withMin) {
        out[o + i] = fround(fround(d * lo) + m);
        out[o + 16 + i] = fround(fround(d * hi) + m);
      } else {
        out[o + i] = fround(d * (lo - offset));
        out[o + 16 + i] = fround(d * (hi - offset));
      }
    }
  }
}

// ---- K-quant 256-element super-blocks

/** 6-bit scale of sub-block s (0..7) from the 12 packed scale bytes at data[S]. */
function kScale(data: Uint8Array, S: number, s: number): number {
  return s < 4
    ? (data[S + s] ?? 0) & 63
    : ((data[S + s + 4] ?? 0) & 15) | (((data[S + s - 4] ?? 0) >> 6) << 4);
}

/** 6-bit min of sub-block s (0..7) from the 12 packed scale bytes at data[S]. */
function kMin(data: Uint8Array, S: number, s: number): number {
  return s < 4
    ? (data[S + s + 4] ?? 0) & 63
    : ((data[S + s + 4] ?? 0) >> 4) | (((data[S + s] ?? 0) >> 6) << 4);
}

/**
 * Q4_K (144 bytes: d f16 @0, dmin f16 @2, scales u8[12] @4, qs u8[128] @16) and Q5_K (176 bytes: the same
 * with qh u8[32] @16 and qs @48). Sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c .. 32c+32);
 * for Q5_K bit s of qh[l] is the 5th bit of element l of sub-block s. numpy: dl = d*sc, ml = dmin*mn, then
 * dl*q - ml.
 */
function decodeK45(
  data: Uint8Array,
  p: number,
  blocks: number,
  out: Float32Array,
  o: number,
  fiveBit: boolean,
): void {
  const half = f16Table();
  const blockBytes = fiveBit ? 176 : 144;
  const qsAt = fiveBit ? 48 : 16;
  for (let b = 0; b < blocks; b++, p += blockBytes, o += 256) {
    const d = half[(data[p] ?? 0) | ((data[p + 1] ?? 0) << 8)] ?? 0;
    const dmin = half[(data[p + 2] ?? 0) | ((data[p + 3] ?? 0) << 8)] ?? 0;
    for (let c = 0; c < 4; c++) {
      const dl0 = fround(d * kScale(data, p + 4, 2 * c));
      const ml0 = fround(dmin * kMin(data, p + 4, 2 * c));
      const dl1 = fround(d * kScale(data, p + 4, 2 * c + 1));
      const ml1 = fround(dmin * kMin(data, p + 4, 2 * c + 1));
      const qs = p + qsAt + 32 * c;
      const oc = o + 64 * c;
      for (let l = 0; l < 32; l++) {
        const byte = data[qs + l] ?? 0;
        const high = fiveBit ? (data[p + 16 + l] ?? 0) >> (2 * c) : 0;
        const q0 = (byte & 15) | ((high & 1) << 4);
        const q1 = (byte >> 4) | ((high & 2) << 3);
        out[oc + l] = fround(fround(dl0 * q0) - ml0);
        out[oc + 32 + l] = fround(fround(dl1 * q1) - ml1);
      }
    }
  }
}

/** d * scale of Q6_K's 16 sub-blocks of the block being decoded (stored as float32: rounded). */
const q6SubScales = new Float32Array(16);

/** Q6_K (210 bytes): ql u8[128] @0, qh u8[64] @128, scales i8[16] @192, d f16 @208. For half h and
 *  l < 32, quarter t takes the low (t < 2) or high nibble of ql[64h + 32(t&1) + l] and bits 2t, 2t+1 of
 *  qh[32h + l]; q - 32 is scaled by sub-block (128h + 32t + l) / 16. numpy: (d * scale) * q. */
function decodeQ6_K(
  data: Uint8Array,
  p: number,
  blocks: number,
  out: Float32Array,
  o: number,
): void {
  const half = f16Table();
  const dl = q6SubScales;
  for (let b = 0; b < blocks; b++, p += 210, o += 256) {
    const d = half[(data[p + 208] ?? 0) | ((data[p + 209] ?? 0) << 8)] ?? 0;
    for (let s = 0; s < 16; s++) dl[s] = d * (((data[p + 192 + s] ?? 0) << 24) >> 24);
    for (let h = 0; h < 2; h++) {
      const ql = p + 64 * h;
      const qh = p + 128 + 32 * h;
      const oh = o + 128 * h;
      for (let l = 0; l < 32; l++) {
        const a = data[ql + l] ?? 0;
        const c = data[ql + 32 + l] ?? 0;
        const hb = data[qh + l] ?? 0;
        const s = 8 * h + (l >> 4);
        out[oh + l] = fround((dl[s] ?? 0) * (((a & 15) | ((hb & 3) << 4)) - 32));
        out[oh + 32 + l] = fround((dl[s + 2] ?? 0) * (((c & 15) | (((hb >> 2) & 3) << 4)) - 32));
        out[oh + 64 + l] = fround((dl[s + 4] ?? 0) * (((a >> 4) | (((hb >> 4) & 3) << 4)) - 32));
        out[oh + 96 + l] = fround((dl[s + 6] ?? 0) * (((c >> 4) | (((hb >> 6) & 3) << 4)) - 32));
      }
    }
  }
}
