// Tensor storage types the engine keeps as stored (float, legacy 32-element blocks, K-quant 256-element
// super-blocks): their block geometry and GGUF type ids, and PackedMatrix, a weight matrix in its stored
// bytes. Pure data and arithmetic; dequantization lives in dequant.ts, GPU kernels in src/kernels/.

import { EngineError } from "../errors.ts";

export type TensorType =
  "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q4_k" | "q5_k" | "q6_k";

/** float: one element per "block"; legacy: 32-element blocks; kquant: 256-element super-blocks. */
export type TensorTypeFamily = "float" | "legacy" | "kquant";

export interface TensorTypeInfo {
  type: TensorType;
  /** ggml_type id in GGUF tensor infos. */
  ggmlType: number;
  /** The name GGUF tools print (F32, Q4_K, ...). */
  ggmlName: string;
  family: TensorTypeFamily;
  /** Elements per block (1 for float types). */
  blockElems: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const TENSOR_TYPES: Readonly<Record<TensorType, TensorTypeInfo>> = {
  f32: { type: "f32", ggmlType: 0, ggmlName: "F32", family: "float", blockElems: 1, blockBytes: 4 },
  f16: { type: "f16", ggmlType: 1, ggmlName: "F16", family: "float", blockElems: 1, blockBytes: 2 },
  bf16: {
    type: "bf16",
    ggmlType: 30,
    ggmlName: "BF16",
    family: "float",
    blockElems: 1,
    blockBytes: 2,
  },
  q4_0: {
    type: "q4_0",
    ggmlType: 2,
    ggmlName: "Q4_0",
    family: "legacy",
    blockElems: 32,
    blockBytes: 18,
  },
  q4_1: {
    type: "q4_1",
    ggmlType: 3,
    ggmlName: "Q4_1",
    family: "legacy",
    blockElems: 32,
    blockBytes: 20,
  },
  q5_0: {
    type: "q5_0",
    ggmlType: 6,
    ggmlName: "Q5_0",
    family: "legacy",
    blockElems: 32,
    blockBytes: 22,
  },
  q5_1: {
    type: "q5_1",
    ggmlType: 7,
    ggmlName: "Q5_1",
    family: "legacy",
    blockElems: 32,
    blockBytes: 24,
  },
  q8_0: {
    type: "q8_0",
    ggmlType: 8,
    ggmlName: "Q8_0",
    family: "legacy",
    blockElems: 32,
    blockBytes: 34,
  },
  q4_k: {
    type: "q4_k",
    ggmlType: 12,
    ggmlName: "Q4_K",
    family: "kquant",
    blockElems: 256,
    blockBytes: 144,
  },
  q5_k: {
    type: "q5_k",
    ggmlType: 13,
    ggmlName: "Q5_K",
    family: "kquant",
    blockElems: 256,
    blockBytes: 176,
  },
  q6_k: {
    type: "q6_k",
    ggmlType: 14,
    ggmlName: "Q6_K",
    family: "kquant",
    blockElems: 256,
    blockBytes: 210,
  },
};

export const ALL_TENSOR_TYPES: readonly TensorType[] = Object.keys(TENSOR_TYPES) as TensorType[];

const BY_GGML = new Map<number, TensorType>(
  ALL_TENSOR_TYPES.map((t) => [TENSOR_TYPES[t].ggmlType, t]),
);

/** The engine's type for a GGUF ggml_type id, or undefined when the engine cannot hold it. */
export function tensorTypeOfGgml(ggmlType: number): TensorType | undefined {
  return BY_GGML.get(ggmlType);
}

/** Bytes of one stored row of `cols` elements; cols must be a whole number of blocks. */
export function rowBytes(type: TensorType, cols: number): number {
  const t = TENSOR_TYPES[type];
  if (!Number.isInteger(cols) || cols < 0 || cols % t.blockElems !== 0) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `a ${t.ggmlName} row holds whole blocks of ${t.blockElems}; ${cols} elements do not divide`,
    );
  }
  return (cols / t.blockElems) * t.blockBytes;
}

export function matrixBytes(type: TensorType, rows: number, cols: number): number {
  return rows * rowBytes(type, cols);
}

/**
 * A weight matrix [rows, cols] (nn.Linear layout [out, in]) in its stored bytes: row r occupies bytes
 * [r * rowBytes(type, cols), (r + 1) * rowBytes(type, cols)) of `data`, little-endian, whole blocks.
 */
export interface PackedMatrix {
  type: TensorType;
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** Checks that `data` holds exactly rows x cols elements of `type`; returns the matrix. */
export function packedMatrix(
  type: TensorType,
  rows: number,
  cols: number,
  data: Uint8Array,
  what = "matrix",
): PackedMatrix {
  const want = matrixBytes(type, rows, cols);
  if (data.byteLength !== want) {
    throw new EngineError(
      "ERR_WEIGHTS_SHAPE",
      `${what}: ${data.byteLength} bytes of ${TENSOR_TYPES[type].ggmlName}, [${rows}, ${cols}] needs ${want}`,
    );
  }
  return { type, rows, cols, data };
}

/** A float32 matrix as a PackedMatrix of type f32 (shares the memory). */
export function f32Matrix(values: Float32Array, rows: number, cols: number): PackedMatrix {
  return packedMatrix(
    "f32",
    rows,
    cols,
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  );
}
