// CPU reference of the packed-weight matmul (matmul-packed.ts): dequantize the stored weight exactly as
// gguf-py does (dequant.ts), then matmulRef (float64 accumulation, float32 result). The parity oracle for
// the packed kernels, not a fast path.

import { dequantizeMatrix } from "../quant/dequant.ts";
import type { PackedMatrix } from "../quant/tensor-type.ts";
import { matmulRef } from "./reference.ts";

/** y[rows, w.rows] = x[rows, w.cols] . dequantize(w)^T (+ bias); x is dense (stride w.cols). */
export function packedMatmulRef(
  x: Float32Array,
  w: PackedMatrix,
  rows: number,
  bias?: Float32Array,
): Float32Array {
  return matmulRef(x, dequantizeMatrix(w), rows, w.cols, w.rows, bias);
}
