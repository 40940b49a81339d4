// Undoing llama.cpp's Q/K row permutation: against a hand-written literal, against the converter's
// reshape/swapaxes formula, and permute∘unpermute = identity on random packed rows of several types.

import { describe, expect, it } from "vitest";
import {
  permuteQkBias,
  permuteQkRows,
  unpermuteQkBias,
  unpermuteQkRows,
} from "../../../src/loader/gguf/gguf-tensors.ts";
import {
  f32Matrix,
  type PackedMatrix,
  rowBytes,
  type TensorType,
} from "../../../src/quant/tensor-type.ts";

function rowsOf(m: PackedMatrix): Uint8Array[] {
  const rb = rowBytes(m.type, m.cols);
  return Array.from({ length: m.rows }, (_, r) => m.data.subarray(r * rb, (r + 1) * rb));
}

/** llama.cpp's converter: w.reshape(heads, 2, d/2, ...).swapaxes(1, 2).reshape(w.shape). */
function converterPermute(hfRows: number[], heads: number): number[] {
  const d = hfRows.length / heads;
  const out: number[] = [];
  for (let head = 0; head < heads; head++) {
    for (let i = 0; i < d / 2; i++) {
      for (let h = 0; h < 2; h++) out.push(hfRows[head * d + h * (d / 2) + i] ?? -1);
    }
  }
  return out;
}

describe("unpermuteQkRows", () => {
  it("matches a hand-computed permutation (2 heads of 4 rows)", () => {
    // GGUF row 2i+h of a head holds HF row h*d/2 + i: per head [0, 2, 1, 3].
    const gguf = Float32Array.from([0, 2, 1, 3, 4, 6, 5, 7]);
    const m = unpermuteQkRows(f32Matrix(gguf, 8, 1), 2);
    expect(Array.from(new Float32Array(m.data.slice().buffer))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(m).toMatchObject({ type: "f32", rows: 8, cols: 1 });
    expect(converterPermute([0, 1, 2, 3, 4, 5, 6, 7], 2)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it("inverts the converter's formula (3 heads of 8 rows, 2 columns)", () => {
    const hf = Array.from({ length: 24 }, (_, r) => r);
    const permuted = converterPermute(hf, 3);
    const data = new Float32Array(48);
    permuted.forEach((r, i) => {
      data[2 * i] = r;
      data[2 * i + 1] = -r;
    });
    const m = unpermuteQkRows(f32Matrix(data, 24, 2), 3);
    const out = new Float32Array(m.data.slice().buffer);
    for (let r = 0; r < 24; r++) expect([out[2 * r], out[2 * r + 1]]).toEqual([r, -r]);
    expect(
      permuteQkRows(f32Matrix(Float32Array.from(hf.flatMap((r) => [r, -r])), 24, 2), 3).data,
    ).toEqual(f32Matrix(data, 24, 2).data);
  });

  const cases: [TensorType, number][] = [
    ["f32", 12],
    ["q8_0", 64],
    ["q4_k", 256],
    ["q6_k", 512],
    ["q4_0", 32],
  ];
  for (const [type, cols] of cases) {
    it(`permute∘unpermute = identity on random ${type} rows, moving whole rows`, () => {
      const heads = 4;
      const rows = heads * 6;
      const rb = rowBytes(type, cols);
      const data = new Uint8Array(rows * rb);
      let seed = 12345;
      for (let i = 0; i < data.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        data[i] = seed >>> 24;
      }
      const m: PackedMatrix = { type, rows, cols, data };
      const un = unpermuteQkRows(m, heads);
      expect(permuteQkRows(un, heads).data).toEqual(data);
      expect(unpermuteQkRows(permuteQkRows(m, heads), heads).data).toEqual(data);
      // Row r' = h*d/2 + i of each head is GGUF row 2i + h, byte for byte.
      const src = rowsOf(m);
      const dst = rowsOf(un);
      const d = rows / heads;
      for (let head = 0; head < heads; head++) {
        for (let h = 0; h < 2; h++) {
          for (let i = 0; i < d / 2; i++) {
            expect(dst[head * d + h * (d / 2) + i]).toEqual(src[head * d + 2 * i + h]);
          }
        }
      }
      expect(data).toEqual(m.data); // the input is not modified
    });
  }

  it("refuses rows that are not heads of an even size", () => {
    expect(() => unpermuteQkRows(f32Matrix(new Float32Array(6), 6, 1), 4)).toThrow(
      /ERR_WEIGHTS_SHAPE/,
    );
    expect(() => unpermuteQkRows(f32Matrix(new Float32Array(6), 6, 1), 2)).toThrow(
      /ERR_WEIGHTS_SHAPE/,
    );
  });
});

describe("unpermuteQkBias", () => {
  it("moves values like rows", () => {
    const gguf = Float32Array.from([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(Array.from(unpermuteQkBias(gguf, 2))).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
    const v = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i));
    expect(unpermuteQkBias(permuteQkBias(v, 4), 4)).toEqual(v);
    // A view into a larger buffer works too.
    const big = new Float32Array(40);
    big.set(gguf, 3);
    expect(Array.from(unpermuteQkBias(big.subarray(3, 11), 2))).toEqual([
      0, 1, 2, 3, 10, 11, 12, 13,
    ]);
  });
});
