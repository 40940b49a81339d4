// CPU dequantization against gguf-py: every tensor type's rows decode to the float32 bit patterns that
// gguf.quants.dequantize computed (test/fixtures/quant, made by scripts/ref/make-dequant-goldens.py),
// whole matrices, row ranges and single rows at odd byte offsets alike; special f16 scales, the f16/bf16
// tables, shape errors, and the random matrices other tests build from test/support/random-packed.ts.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isEngineError } from "../../../src/errors.ts";
import {
  dequantizeMatrix,
  dequantizeRow,
  dequantizeRows,
  dequantizeVector,
} from "../../../src/quant/dequant.ts";
import { bf16Table, f16BitsToNumber, f16Table } from "../../../src/quant/f16.ts";
import {
  ALL_TENSOR_TYPES,
  TENSOR_TYPES,
  rowBytes,
  type PackedMatrix,
  type TensorType,
} from "../../../src/quant/tensor-type.ts";
import { randomPackedMatrix } from "../../support/random-packed.ts";
import { Rng } from "../../support/random.ts";

interface GoldenCase {
  name: string;
  type: TensorType;
  ggmlName: string;
  rows: number;
  cols: number;
  seed: number;
  packedOffset: number;
  packedBytes: number;
  valuesOffset: number;
  valuesCount: number;
  hasNaN: boolean;
}

interface GoldenIndex {
  generator: string;
  gguf: string;
  numpy: string;
  file: string;
  cases: GoldenCase[];
}

const DIR = new URL("../../fixtures/quant/", import.meta.url);
const INDEX = JSON.parse(readFileSync(new URL("index.json", DIR), "utf8")) as GoldenIndex;
const BLOB = new Uint8Array(readFileSync(new URL(INDEX.file, DIR)));

/** The case's stored bytes, in a buffer of their own. */
function packedOf(c: GoldenCase): PackedMatrix {
  const data = BLOB.slice(c.packedOffset, c.packedOffset + c.packedBytes);
  return { type: c.type, rows: c.rows, cols: c.cols, data };
}

/** The case's expected float32 bit patterns. */
function expectedBits(c: GoldenCase): Uint32Array {
  const bytes = BLOB.slice(c.valuesOffset, c.valuesOffset + 4 * c.valuesCount);
  return new Uint32Array(bytes.buffer);
}

function isNaNBits(bits: number): boolean {
  return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0;
}

const hex = (bits: number): string => `0x${(bits >>> 0).toString(16).padStart(8, "0")}`;

/** Float32 bit equality (an expected NaN asks only for a NaN); returns the first few mismatches. */
function bitMismatches(actual: Float32Array, expected: Uint32Array): string[] {
  const got = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const bad: string[] = [];
  if (got.length !== expected.length) return [`length ${got.length} != ${expected.length}`];
  for (let i = 0; i < expected.length && bad.length < 5; i++) {
    const want = expected[i]!;
    const ok = isNaNBits(want) ? isNaNBits(got[i]!) : got[i] === want;
    if (!ok) bad.push(`[${i}] ${hex(got[i]!)} (${actual[i]}) != ${hex(want)}`);
  }
  return bad;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isEngineError(e) ? e.code : `not an EngineError: ${String(e)}`;
  }
  return "no error";
}

describe("dequantization goldens from gguf-py", () => {
  it("cover every tensor type with a few odd-shaped cases", () => {
    expect(INDEX.gguf).toMatch(/^\d+\.\d+/);
    for (const type of ALL_TENSOR_TYPES) {
      const cases = INDEX.cases.filter((c) => c.type === type);
      expect(cases.length, type).toBeGreaterThanOrEqual(3);
      for (const c of cases) {
        expect(c.ggmlName).toBe(TENSOR_TYPES[type].ggmlName);
        expect(c.packedBytes).toBe(c.rows * rowBytes(type, c.cols));
        expect(c.valuesCount).toBe(c.rows * c.cols);
      }
      // the random cases carry real, varied values (a golden of zeros could not catch a wrong decoder)
      const distinct = new Set(expectedBits(cases[0]!));
      expect(distinct.size, type).toBeGreaterThan(cases[0]!.valuesCount / 4);
    }
  });

  for (const c of INDEX.cases) {
    describe(c.name, () => {
      it(`dequantizeMatrix equals gguf-py bit for bit ([${c.rows}, ${c.cols}])`, () => {
        expect(bitMismatches(dequantizeMatrix(packedOf(c)), expectedBits(c))).toEqual([]);
      });

      it("dequantizeRow at odd byte and output offsets equals the golden row", () => {
        const m = packedOf(c);
        const stride = rowBytes(c.type, c.cols);
        const want = expectedBits(c);
        for (let r = 0; r < c.rows; r++) {
          // the row lives at byte 3 of a view that itself starts at byte 1 of its buffer
          const buffer = new Uint8Array(stride + 7);
          buffer.set(m.data.subarray(r * stride, (r + 1) * stride), 4);
          const data = buffer.subarray(1);
          const out = new Float32Array(c.cols + 8).fill(7);
          dequantizeRow(c.type, data, 3, c.cols, out, 5);
          expect(
            bitMismatches(out.subarray(5, 5 + c.cols), want.subarray(r * c.cols, (r + 1) * c.cols)),
          ).toEqual([]);
          // nothing outside [outOffset, outOffset + cols) is written
          expect([...out.subarray(0, 5), ...out.subarray(5 + c.cols)]).toEqual([
            7, 7, 7, 7, 7, 7, 7, 7,
          ]);
        }
      });

      it("dequantizeRows and dequantizeVector equal the golden rows", () => {
        const m = packedOf(c);
        const want = expectedBits(c);
        const tail = dequantizeRows(m, 1, c.rows - 1);
        expect(bitMismatches(tail, want.subarray(c.cols))).toEqual([]);
        expect(dequantizeRows(m, c.rows, 0)).toHaveLength(0);
        const stride = rowBytes(c.type, c.cols);
        const last = m.data.slice((c.rows - 1) * stride);
        expect(
          bitMismatches(
            dequantizeVector(c.type, last, c.cols),
            want.subarray((c.rows - 1) * c.cols),
          ),
        ).toEqual([]);
      });
    });
  }
});

/** One block of `type` with the given bytes at the given offsets, zeros elsewhere. */
function block(type: TensorType, fields: Record<number, number[]>): Uint8Array {
  const b = new Uint8Array(TENSOR_TYPES[type].blockBytes);
  for (const [at, bytes] of Object.entries(fields)) b.set(bytes, Number(at));
  return b;
}

describe("special f16 scales (expected values written out by hand)", () => {
  it("Q8_0 with the smallest subnormal scale gives exact multiples of 2^-24", () => {
    // d = 0x0001 = 2^-24; q = 1, -1, 127, -128, 0, ...
    const data = block("q8_0", { 0: [0x01, 0x00], 2: [0x01, 0xff, 0x7f, 0x80] });
    const out = dequantizeVector("q8_0", data, 32);
    expect([...out.subarray(0, 5)]).toEqual([
      2 ** -24,
      -(2 ** -24),
      127 * 2 ** -24,
      -128 * 2 ** -24,
      0,
    ]);
  });

  it("Q8_0 with an infinite scale gives ±inf, and NaN for q = 0", () => {
    // d = 0xfc00 = -inf
    const data = block("q8_0", { 0: [0x00, 0xfc], 2: [0x01, 0xff, 0x00] });
    const out = dequantizeVector("q8_0", data, 32);
    expect(out[0]).toBe(-Infinity);
    expect(out[1]).toBe(Infinity);
    expect(out[2]).toBeNaN();
  });

  it("Q4_1 rounds d·q + m once to float32 (d·q itself is exact)", () => {
    // d = 0x3c01 = 1 + 2^-10, m = 0x0001 = 2^-24 (a subnormal); q = 15 in element 16 (high nibble)
    const data = block("q4_1", { 0: [0x01, 0x3c, 0x01, 0x00], 4: [0xf0] });
    const out = dequantizeVector("q4_1", data, 32);
    // 15·(1 + 2^-10) = 15.0146484375 is exact; adding 2^-24 is below half an ulp (2^-21) and rounds away
    expect(out[16]).toBe(15.0146484375);
    // element 0: q = 0, so d·0 + m = m, the subnormal exactly
    expect(out[0]).toBe(2 ** -24);
  });

  it("Q4_K with the largest finite d: exact products, one float32 rounding of the difference", () => {
    // d = 0x7bff = 65504, dmin = 0x3c00 = 1; sub-block 0: scale 63, min 1; element 0 has q = 15
    const data = block("q4_k", { 0: [0xff, 0x7b, 0x00, 0x3c], 4: [63, 0, 0, 0, 1], 16: [0x0f] });
    const out = dequantizeVector("q4_k", data, 256);
    // 65504·63·15 = 61901280 (exact), minus 1 = 61901279, which float32 (ulp 4 here) rounds to 61901280
    expect(out[0]).toBe(61901280);
    expect(out[1]).toBe(-1); // q = 0: 0 - dmin·1
    expect(out[32]).toBe(0); // sub-block 1: scale 0, min 0
  });

  it("the f16 and bf16 tables decode special patterns exactly", () => {
    const half = f16Table();
    expect(half[0x3c00]).toBe(1);
    expect(half[0xc100]).toBe(-2.5);
    expect(half[0x0001]).toBe(2 ** -24);
    expect(half[0x03ff]).toBe(1023 * 2 ** -24);
    expect(half[0x0400]).toBe(2 ** -14);
    expect(half[0x7bff]).toBe(65504);
    expect(half[0x7c00]).toBe(Infinity);
    expect(half[0xfc00]).toBe(-Infinity);
    expect(Object.is(half[0x8000], -0)).toBe(true);
    expect(half[0x7e00]).toBeNaN();
    expect(half[0xfc01]).toBeNaN();
    expect(f16BitsToNumber(0x3555)).toBe(0.333251953125);
    const bf = bf16Table();
    expect(bf[0x3f80]).toBe(1);
    expect(bf[0xc020]).toBe(-2.5);
    expect(bf[0x0001]).toBe(2 ** -133);
    expect(bf[0x7f80]).toBe(Infinity);
    expect(Object.is(bf[0x8000], -0)).toBe(true);
    expect(bf[0x7fc0]).toBeNaN();
  });
});

describe("shape errors", () => {
  const out = new Float32Array(512);

  it("a row that is not whole blocks is ERR_WEIGHTS_SHAPE", () => {
    expect(codeOf(() => dequantizeRow("q4_0", new Uint8Array(36), 0, 33, out))).toBe(
      "ERR_WEIGHTS_SHAPE",
    );
    expect(codeOf(() => dequantizeRow("q6_k", new Uint8Array(420), 0, 300, out))).toBe(
      "ERR_WEIGHTS_SHAPE",
    );
    expect(codeOf(() => dequantizeRow("f16", new Uint8Array(8), 0, 2.5, out))).toBe(
      "ERR_WEIGHTS_SHAPE",
    );
  });

  it("a row past the end of the data or the output is ERR_KERNEL_SHAPE", () => {
    expect(codeOf(() => dequantizeRow("q8_0", new Uint8Array(67), 0, 64, out))).toBe(
      "ERR_KERNEL_SHAPE",
    );
    expect(codeOf(() => dequantizeRow("q8_0", new Uint8Array(68), 1, 64, out))).toBe(
      "ERR_KERNEL_SHAPE",
    );
    expect(codeOf(() => dequantizeRow("q8_0", new Uint8Array(68), -1, 32, out))).toBe(
      "ERR_KERNEL_SHAPE",
    );
    expect(codeOf(() => dequantizeRow("q8_0", new Uint8Array(68), 0.5, 32, out))).toBe(
      "ERR_KERNEL_SHAPE",
    );
    expect(
      codeOf(() => dequantizeRow("q4_k", new Uint8Array(144), 0, 256, new Float32Array(255))),
    ).toBe("ERR_KERNEL_SHAPE");
    expect(codeOf(() => dequantizeRow("f32", new Uint8Array(16), 0, 4, out, 509))).toBe(
      "ERR_KERNEL_SHAPE",
    );
    // exactly fitting is fine
    expect(codeOf(() => dequantizeRow("q8_0", new Uint8Array(68), 0, 64, out, 448))).toBe(
      "no error",
    );
  });

  it("a matrix whose bytes do not match its shape is ERR_WEIGHTS_SHAPE; a bad row range ERR_KERNEL_SHAPE", () => {
    const m: PackedMatrix = { type: "q5_k", rows: 2, cols: 256, data: new Uint8Array(351) };
    expect(codeOf(() => dequantizeMatrix(m))).toBe("ERR_WEIGHTS_SHAPE");
    const ok: PackedMatrix = { ...m, data: new Uint8Array(352) };
    expect(codeOf(() => dequantizeRows(ok, 1, 2))).toBe("ERR_KERNEL_SHAPE");
    expect(codeOf(() => dequantizeRows(ok, -1, 1))).toBe("ERR_KERNEL_SHAPE");
    expect(codeOf(() => dequantizeVector("bf16", new Uint8Array(6), 4))).toBe("ERR_WEIGHTS_SHAPE");
  });
});

describe("randomPackedMatrix", () => {
  for (const type of ALL_TENSOR_TYPES) {
    it(`${type}: valid, seeded blocks whose values are finite and O(0.01 .. 1)`, () => {
      const cols = 3 * Math.max(TENSOR_TYPES[type].blockElems, 32);
      const m = randomPackedMatrix(
        type,
        5,
        cols,
        (
          (rng) => () =>
            rng.next()
        )(new Rng(11)),
      );
      expect(m).toMatchObject({ type, rows: 5, cols });
      expect(m.data.byteLength).toBe(5 * rowBytes(type, cols));
      const values = dequantizeMatrix(m);
      let maxAbs = 0;
      let sumAbs = 0;
      for (const v of values) {
        expect(Number.isFinite(v)).toBe(true);
        maxAbs = Math.max(maxAbs, Math.abs(v));
        sumAbs += Math.abs(v);
      }
      expect(maxAbs).toBeLessThanOrEqual(2);
      expect(maxAbs).toBeGreaterThan(0.1);
      expect(sumAbs / values.length).toBeGreaterThan(0.01);
      const again = randomPackedMatrix(
        type,
        5,
        cols,
        (
          (rng) => () =>
            rng.next()
        )(new Rng(11)),
      );
      expect(again.data).toEqual(m.data);
    });
  }
});
