// onnxruntime-web (wasm, CPU) timings of the same matmul shapes as the WebGPU kernels, for comparison in
// `npm run bench:engine`. The ONNX model (Y = X . W, W an initializer) is encoded by hand: a few protobuf
// fields are all it takes, so no protobuf package is needed. Node only (onnxruntime-web's Node entry is wasm).

import * as ort from "onnxruntime-web";
import { Rng } from "../test/support/random.ts";

// --- minimal protobuf writer (varint and length-delimited fields only) ---

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const intField = (field: number, n: number): number[] => [...varint(field << 3), ...varint(n)];

function bytesField(field: number, bytes: Uint8Array | number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

const strField = (field: number, s: string): number[] =>
  bytesField(field, [...new TextEncoder().encode(s)]);

const FLOAT = 1; // TensorProto.DataType.FLOAT

function valueInfo(name: string, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) =>
    bytesField(1, typeof d === "number" ? intField(1, d) : strField(2, d)),
  );
  const tensorType = [...intField(1, FLOAT), ...bytesField(2, shape)];
  return [...strField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** ModelProto bytes of Y[rows, n] = X[rows, k] . W[k, n] (rows symbolic), ir_version 8, opset 17. */
export function matmulModel(w: Float32Array, k: number, n: number): Uint8Array {
  const raw = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  const init = [
    ...intField(1, k),
    ...intField(1, n),
    ...intField(2, FLOAT),
    ...strField(8, "W"),
    ...bytesField(9, raw),
  ];
  const node = [
    ...strField(1, "X"),
    ...strField(1, "W"),
    ...strField(2, "Y"),
    ...strField(4, "MatMul"),
  ];
  const graph = [
    ...bytesField(1, node),
    ...strField(2, "matmul"),
    ...bytesField(5, init),
    ...bytesField(11, valueInfo("X", ["rows", k])),
    ...bytesField(12, valueInfo("Y", ["rows", n])),
  ];
  return Uint8Array.from([
    ...intField(1, 8),
    ...strField(2, "pipemesh-bench"),
    ...bytesField(7, graph),
    ...bytesField(8, [...strField(1, ""), ...intField(2, 17)]),
  ]);
}

export interface OrtRow {
  shape: string;
  msPerRun: number;
  gflops: number;
}

/** Times each [rows, k, n] through an onnxruntime-web wasm session (1 thread), checking one output. */
export async function benchOrtMatmul(
  shapes: [number, number, number][],
  minMs = 250,
): Promise<OrtRow[]> {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = "error";
  const rng = new Rng(5);
  const out: OrtRow[] = [];
  for (const [rows, k, n] of shapes) {
    const w = rng.floats(k * n);
    const session = await ort.InferenceSession.create(matmulModel(w, k, n), {
      executionProviders: ["wasm"],
    });
    const x = rng.floats(rows * k);
    const feeds = { X: new ort.Tensor("float32", x, [rows, k]) };
    const first = await session.run(feeds);
    const y = first["Y"]?.data as Float32Array;
    let expect0 = 0;
    for (let i = 0; i < k; i++) expect0 += (x[i] ?? 0) * (w[i * n] ?? 0);
    if (Math.abs((y[0] ?? NaN) - expect0) > 1e-3 * Math.max(1, Math.abs(expect0))) {
      throw new Error(`onnxruntime matmul gave ${y[0]}, expected ${expect0}`);
    }
    let reps = 1;
    let ms = 0;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) await session.run(feeds);
      ms = performance.now() - t0;
      if (ms >= minMs || reps >= 4096) break;
      reps *= 2;
    }
    await session.release();
    const per = ms / reps;
    out.push({
      shape: `${rows}x${k} . ${k}x${n}`,
      msPerRun: per,
      gflops: (2 * rows * k * n) / (per * 1e6),
    });
  }
  return out;
}
