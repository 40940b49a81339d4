// Random stored weight matrices of any tensor type, for kernel parity and batch-invariance tests: valid
// blocks whose f16 scale fields are finite and moderate, so dequantized values are O(0.01 .. 1) (never
// inf or NaN). Every other byte is random. Test code only; not a quantizer (the blocks quantize nothing).

import {
  TENSOR_TYPES,
  packedMatrix,
  rowBytes,
  type PackedMatrix,
  type TensorType,
} from "../../src/quant/tensor-type.ts";

/**
 * A [rows, cols] matrix of `type` with random contents drawn from `rand` (uniform in [0, 1), e.g.
 * `() => rng.next()` of test/support/random.ts's Rng); cols must be a whole number of blocks.
 */
export function randomPackedMatrix(
  type: TensorType,
  rows: number,
  cols: number,
  rand: () => number,
): PackedMatrix {
  const data = new Uint8Array(rows * rowBytes(type, cols));
  const int = (n: number): number => Math.floor(rand() * n);
  for (let i = 0; i < data.length; i++) data[i] = int(256);
  const info = TENSOR_TYPES[type];
  const blocks = data.length / info.blockBytes;
  /** A random f16 in ±[2^exp, 2^(exp+1)) (positive unless `signed`) at byte `at` of block b. */
  const scale = (b: number, at: number, exp: number, signed: boolean): void => {
    const bits = (signed ? int(2) << 15 : 0) | ((exp + 15) << 10) | int(1024);
    const p = b * info.blockBytes + at;
    data[p] = bits & 0xff;
    data[p + 1] = bits >> 8;
  };
  switch (type) {
    case "f32": {
      const values = new Float32Array(data.buffer);
      for (let i = 0; i < values.length; i++) values[i] = rand() * 2 - 1;
      break;
    }
    case "f16":
      // sign | exponent 2^-7 .. 2^-1 | random mantissa: magnitudes in [2^-7, 1)
      for (let i = 0; i < blocks; i++) scale(i, 0, -7 + int(7), true);
      break;
    case "bf16":
      for (let i = 0; i < blocks; i++) {
        const bits = (int(2) << 15) | ((127 - 7 + int(7)) << 7) | int(128);
        data[2 * i] = bits & 0xff;
        data[2 * i + 1] = bits >> 8;
      }
      break;
    case "q8_0": // d·q, |q| <= 128
      for (let b = 0; b < blocks; b++) scale(b, 0, -8, true);
      break;
    case "q4_0": // d·(q - 8), q < 16
      for (let b = 0; b < blocks; b++) scale(b, 0, -4, true);
      break;
    case "q5_0": // d·(q - 16), q < 32
      for (let b = 0; b < blocks; b++) scale(b, 0, -5, true);
      break;
    case "q4_1": // d·q + m, q < 16
      for (let b = 0; b < blocks; b++) {
        scale(b, 0, -5, true);
        scale(b, 2, -3, true);
      }
      break;
    case "q5_1": // d·q + m, q < 32
      for (let b = 0; b < blocks; b++) {
        scale(b, 0, -6, true);
        scale(b, 2, -3, true);
      }
      break;
    case "q4_k": // d·sc·q - dmin·mn, sc and mn < 64, q < 16
      for (let b = 0; b < blocks; b++) {
        scale(b, 0, -11, false);
        scale(b, 2, -8, false);
      }
      break;
    case "q5_k": // d·sc·q - dmin·mn, q < 32
      for (let b = 0; b < blocks; b++) {
        scale(b, 0, -12, false);
        scale(b, 2, -8, false);
      }
      break;
    case "q6_k": // d·sc·(q - 32), |sc| <= 128, |q - 32| <= 32
      for (let b = 0; b < blocks; b++) scale(b, 208, -13, false);
      break;
    default: {
      const never: never = type;
      throw new Error(`no random blocks for ${String(never)}`);
    }
  }
  return packedMatrix(type, rows, cols, data, `random ${info.ggmlName}`);
}
