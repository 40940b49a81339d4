// The CPU backend's linear layer and embedding lookup over weights in their stored format (PackedMatrix):
// f32 matrices are read in place, every other type is dequantized one row at a time into a scratch row
// (never the whole matrix), so host memory stays at the stored size. Results equal kernels/reference.ts
// matmulRef / embedRef on the dequantized matrix bit for bit (same float64 accumulation order per element).
// Not the GPU path (src/kernels/matmul-packed.ts).

import { matmulRef } from "../kernels/reference.ts";
import { dequantizeRow } from "../quant/dequant.ts";
import { rowBytes, type PackedMatrix } from "../quant/tensor-type.ts";

/** The float32 values of an f32 PackedMatrix (a view when aligned, else a copy). */
export function f32Values(m: PackedMatrix): Float32Array {
  const { data } = m;
  if (data.byteOffset % 4 === 0) {
    return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  }
  return new Float32Array(data.slice().buffer);
}

/** y[r, j] = sum_i x[r, i] * w[j, i] (+ bias[j]), w [n, k] as stored. */
export function linearCpu(
  x: Float32Array, // [rows, k]
  w: PackedMatrix, // [n, k]
  rows: number,
  bias?: Float32Array, // [n]
): Float32Array {
  const { rows: n, cols: k } = w;
  if (w.type === "f32") return matmulRef(x, f32Values(w), rows, k, n, bias);
  const y = new Float32Array(rows * n);
  const row = new Float32Array(k);
  const stride = rowBytes(w.type, k);
  for (let j = 0; j < n; j++) {
    dequantizeRow(w.type, w.data, j * stride, k, row, 0);
    const b = bias ? (bias[j] ?? 0) : 0;
    for (let r = 0; r < rows; r++) {
      const xo = r * k;
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (x[xo + i] ?? 0) * (row[i] ?? 0);
      y[r * n + j] = acc + b;
    }
  }
  return y;
}

/** Gathers embedding rows, dequantized: y[r, :] = table[tokens[r], :]. */
export function embedRowsCpu(table: PackedMatrix, tokens: Int32Array): Float32Array {
  const hidden = table.cols;
  const y = new Float32Array(tokens.length * hidden);
  const stride = rowBytes(table.type, hidden);
  for (let r = 0; r < tokens.length; r++) {
    const t = tokens[r] ?? 0;
    dequantizeRow(table.type, table.data, t * stride, hidden, y, r * hidden);
  }
  return y;
}
