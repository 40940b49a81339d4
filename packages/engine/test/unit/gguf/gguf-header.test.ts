// GGUF header reader: round trips of every value type (v2 and v3), forward growing reads that stay in the
// header, and the coded error of each kind of malformed file.

import { describe, expect, it } from "vitest";
import { isEngineError } from "../../../src/errors.ts";
import { type ByteSource, MemorySource } from "../../../src/loader/byte-source.ts";
import {
  GGUF_FIRST_READ_BYTES,
  GGUF_MAX_READ_STEP_BYTES,
  ggufInt,
  ggufNumberArray,
  ggufString,
  ggufStringArray,
  readGgufHeader,
  requireTensorType,
} from "../../../src/loader/gguf/gguf-header.ts";
import {
  f32Bytes,
  gv,
  plainValue,
  writeGguf,
  type GgufWriteOptions,
  type TypedValue,
} from "../../support/gguf-writer.ts";

/** Counts the bytes and reads asked of a source. */
class CountingSource implements ByteSource {
  bytesRead = 0;
  reads: [number, number][] = [];
  readonly location = "counting";
  readonly #inner: MemorySource;
  constructor(bytes: Uint8Array) {
    this.#inner = new MemorySource(bytes, "counting");
  }
  size(): Promise<number> {
    return this.#inner.size();
  }
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.bytesRead += length;
    this.reads.push([offset, length]);
    return this.#inner.read(offset, length, signal);
  }
}

const ALL_TYPES: [string, TypedValue][] = [
  ["t.u8", gv.u8(200)],
  ["t.i8", gv.i8(-100)],
  ["t.u16", gv.u16(60000)],
  ["t.i16", gv.i16(-30000)],
  ["t.u32", gv.u32(4000000000)],
  ["t.i32", gv.i32(-2000000000)],
  ["t.f32", gv.f32(1.5)],
  ["t.bool", gv.bool(true)],
  ["t.bool0", gv.bool(false)],
  ["t.string", gv.str("héllo wörld 日本 🎉")],
  ["t.u64", gv.u64(2n ** 63n + 5n)],
  ["t.i64", gv.i64(-(2n ** 62n))],
  ["t.f64", gv.f64(Math.PI)],
  ["t.arr.u8", gv.arr("u8", [1, 2, 255])],
  ["t.arr.str", gv.arr("string", ["a", "", "▁b"])],
  ["t.arr.f32", gv.arr("f32", [0.5, -2])],
  ["t.arr.i64", gv.arr("i64", [-1n, 7n])],
  ["t.arr.bool", gv.arr("bool", [true, false])],
  ["t.arr.empty", gv.arr("u32", [])],
  ["t.arr.nested", gv.arr("array", [gv.arr("i32", [1, -2]), gv.arr("string", ["x"])])],
];

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return isEngineError(e) ? e.code : `not an EngineError: ${String(e)}`;
  }
}

function read(bytes: Uint8Array): Promise<unknown> {
  return readGgufHeader(new MemorySource(bytes, "bad.gguf"));
}

function simple(extra: Partial<GgufWriteOptions> = {}): Uint8Array {
  return writeGguf({
    metadata: [["general.architecture", gv.str("llama")]],
    tensors: [
      { name: "a", dims: [4], ggmlType: 0, data: f32Bytes([1, 2, 3, 4]) },
      { name: "b", dims: [2, 2], ggmlType: 0, data: f32Bytes([5, 6, 7, 8]) },
    ],
    ...extra,
  });
}

describe("readGgufHeader", () => {
  for (const version of [2, 3]) {
    it(`round-trips every value type and tensor infos (v${version})`, async () => {
      const tensors = [
        {
          name: "token_embd.weight",
          dims: [8, 3],
          ggmlType: 0,
          data: f32Bytes(new Array(24).fill(1)),
        },
        // Q8_0: a row of 32 elements is one 34-byte block; two rows.
        {
          name: "blk.0.attn_q.weight",
          dims: [32, 2],
          ggmlType: 8,
          data: new Uint8Array(68).fill(3),
        },
        // IQ2_XXS (16): an engine-unsupported type keeps type undefined.
        { name: "odd.weight", dims: [256], ggmlType: 16, data: new Uint8Array(66) },
      ];
      const bytes = writeGguf({ version, metadata: ALL_TYPES, tensors });
      const h = await readGgufHeader(new MemorySource(bytes, "x.gguf"));
      expect(h.version).toBe(version);
      expect(h.alignment).toBe(32);
      expect(h.dataStart % 32).toBe(0);
      expect(h.fileSizeBytes).toBe(bytes.length);
      expect([...h.metadata.entries()]).toEqual(ALL_TYPES.map(([k, v]) => [k, plainValue(v)]));
      expect([...h.tensors.keys()]).toEqual(tensors.map((t) => t.name));
      const q = h.tensors.get("blk.0.attn_q.weight");
      expect(q).toMatchObject({ dims: [32, 2], ggmlType: 8, type: "q8_0", sizeBytes: 68 });
      expect(bytes.subarray(q?.offset, (q?.offset ?? 0) + 68)).toEqual(tensors[1]?.data);
      const e = h.tensors.get("token_embd.weight");
      expect(e).toMatchObject({ type: "f32", sizeBytes: 96, offset: h.dataStart });
      const odd = h.tensors.get("odd.weight");
      expect(odd).toMatchObject({ type: undefined, sizeBytes: 66 });
      expect(() => requireTensorType(odd!)).toThrow(/ERR_GGUF_TENSOR_TYPE.*odd\.weight.*IQ2_XXS/);
      expect(requireTensorType(q!)).toBe("q8_0");
      expect(ggufString(h, "t.string")).toBe("héllo wörld 日本 🎉");
      expect(ggufInt(h, "t.u16")).toBe(60000);
      expect(ggufStringArray(h, "t.arr.str")).toEqual(["a", "", "▁b"]);
      expect(ggufNumberArray(h, "t.arr.i64")).toEqual([-1, 7]);
      expect(() => ggufInt(h, "t.f32")).toThrow(/ERR_WEIGHTS_FORMAT.*t\.f32/);
      expect(() => ggufString(h, "t.u8")).toThrow(/ERR_WEIGHTS_FORMAT.*t\.u8/);
      expect(() => ggufInt(h, "t.u64")).toThrow(/ERR_WEIGHTS_FORMAT/);
      expect(ggufInt(h, "absent")).toBeUndefined();
    });
  }

  it("honours general.alignment", async () => {
    const bytes = writeGguf({
      metadata: [["general.alignment", gv.u32(64)]],
      tensors: [
        { name: "a", dims: [3], ggmlType: 0, data: f32Bytes([1, 2, 3]) },
        { name: "b", dims: [1], ggmlType: 0, data: f32Bytes([4]) },
      ],
    });
    const h = await readGgufHeader(new MemorySource(bytes));
    expect(h.alignment).toBe(64);
    expect(h.dataStart % 64).toBe(0);
    expect(h.tensors.get("b")?.offset).toBe(h.dataStart + 64);
  });

  it("reads only the header, forward, in growing ranges", async () => {
    // A ~600 KiB vocabulary-like header in front of 8 MiB of tensor data.
    const tokens = Array.from({ length: 40000 }, (_, i) => `token-${i}`);
    const big = new Uint8Array(8 * 1024 * 1024);
    const bytes = writeGguf({
      metadata: [["tokenizer.ggml.tokens", gv.arr("string", tokens)]],
      tensors: [{ name: "big", dims: [big.length / 4], ggmlType: 0, data: big }],
    });
    const src = new CountingSource(bytes);
    const h = await readGgufHeader(src);
    expect(ggufStringArray(h, "tokenizer.ggml.tokens")?.length).toBe(40000);
    expect(src.reads[0]).toEqual([0, GGUF_FIRST_READ_BYTES]);
    for (let i = 1; i < src.reads.length; i++) {
      const [prevOff, prevLen] = src.reads[i - 1]!;
      expect(src.reads[i]![0]).toBe(prevOff + prevLen);
    }
    expect(src.reads.length).toBeGreaterThan(1);
    expect(src.bytesRead).toBeLessThanOrEqual(2 * h.dataStart + GGUF_FIRST_READ_BYTES);
    expect(src.bytesRead).toBeLessThan(bytes.length / 4);
  });

  it("a Llama-3-sized header is read in capped steps, over-reading at most one step", async () => {
    const tokens = Array.from({ length: 128256 }, (_, i) => `Ġtok${i}`);
    const merges = Array.from({ length: 280000 }, (_, i) => `Ġa${i} b${i}`);
    const data = new Uint8Array(16 * 1024 * 1024);
    const bytes = writeGguf({
      metadata: [
        ["tokenizer.ggml.tokens", gv.arr("string", tokens)],
        ["tokenizer.ggml.merges", gv.arr("string", merges)],
      ],
      tensors: [{ name: "big", dims: [data.length / 4], ggmlType: 0, data }],
    });
    const src = new CountingSource(bytes);
    const h = await readGgufHeader(src);
    expect(h.dataStart).toBeGreaterThan(8 * 1024 * 1024);
    expect(ggufStringArray(h, "tokenizer.ggml.merges")?.[279999]).toBe("Ġa279999 b279999");
    expect(src.bytesRead).toBeLessThanOrEqual(h.dataStart + GGUF_MAX_READ_STEP_BYTES);
    for (const [, len] of src.reads) expect(len).toBeLessThanOrEqual(GGUF_MAX_READ_STEP_BYTES);
  });

  it("a tensor of a ggml type unknown to the reader is sized by the next tensor", async () => {
    const bytes = writeGguf({
      tensors: [
        { name: "future", dims: [10], ggmlType: 99, data: new Uint8Array(40) },
        { name: "next", dims: [2], ggmlType: 0, data: f32Bytes([1, 2]) },
      ],
    });
    const h = await readGgufHeader(new MemorySource(bytes));
    expect(h.tensors.get("future")).toMatchObject({ type: undefined, ggmlType: 99, sizeBytes: 64 });
    expect(() => requireTensorType(h.tensors.get("future")!)).toThrow(
      /ERR_GGUF_TENSOR_TYPE.*future.*type 99/,
    );
  });

  it("a small file is read once, no further than its end", async () => {
    const bytes = simple();
    const src = new CountingSource(bytes);
    await readGgufHeader(src);
    expect(src.reads).toEqual([[0, bytes.length]]);
  });

  it("refuses a header beyond the cap without reading it all", async () => {
    // One string value claims 80 MiB (and the file has them, as zeros).
    const head = writeGguf({ metadata: [["k", gv.str("x")]] });
    const bytes = new Uint8Array(80 * 1024 * 1024 + head.length);
    bytes.set(head);
    const view = new DataView(bytes.buffer);
    // the string length sits after magic/version/counts (24) + key (8 + 1) + type (4)
    view.setBigUint64(24 + 9 + 4, BigInt(80 * 1024 * 1024), true);
    const src = new CountingSource(bytes);
    await expect(readGgufHeader(src)).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*larger than/);
    expect(src.bytesRead).toBeLessThanOrEqual(64 * 1024 * 1024);
  });

  describe("malformed files", () => {
    it("bad magic", async () => {
      expect(await codeOf(read(simple({ magic: "GGML" })))).toBe("ERR_WEIGHTS_FORMAT");
      expect(await codeOf(read(new TextEncoder().encode("hello world, not gguf at all")))).toBe(
        "ERR_WEIGHTS_FORMAT",
      );
    });

    it("version 1, unknown versions and big-endian files", async () => {
      await expect(read(simple({ version: 1 }))).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*version 1/);
      await expect(read(simple({ version: 4 }))).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*version 4/);
      // A big-endian v3 file's version reads as 0x03000000 little-endian.
      await expect(read(simple({ version: 0x03000000 }))).rejects.toThrow(
        /ERR_WEIGHTS_FORMAT.*big-endian/,
      );
      await expect(read(simple({ magic: "FUGG" }))).rejects.toThrow(/big-endian/);
    });

    it("truncated anywhere in the header", async () => {
      const bytes = simple();
      const h = await readGgufHeader(new MemorySource(bytes));
      for (let cut = 0; cut < h.dataStart - 31; cut += 7) {
        const code = await codeOf(read(bytes.slice(0, cut)));
        expect([cut, code]).toEqual([cut, "ERR_WEIGHTS_TRUNCATED"]);
      }
    });

    it("tensor data past the end of the file", async () => {
      const bytes = simple();
      expect(await codeOf(read(bytes.slice(0, bytes.length - 20)))).toBe("ERR_WEIGHTS_TRUNCATED");
    });

    it("absurd counts and lengths fail fast", async () => {
      const huge = 2n ** 62n;
      expect(await codeOf(read(simple({ tensorCount: huge })))).toBe("ERR_WEIGHTS_FORMAT");
      expect(await codeOf(read(simple({ kvCount: huge })))).toBe("ERR_WEIGHTS_FORMAT");
      expect(await codeOf(read(simple({ kvCount: 1000n })))).toBe("ERR_WEIGHTS_TRUNCATED");
      // An array claiming 2^40 elements.
      const arr = writeGguf({ metadata: [["k", gv.arr("u32", [1, 2])]] });
      new DataView(arr.buffer).setBigUint64(24 + 9 + 4 + 4, 2n ** 40n, true);
      expect(await codeOf(read(arr))).toBe("ERR_WEIGHTS_FORMAT");
      // A string (the key) claiming to be longer than the file.
      const str = simple();
      new DataView(str.buffer).setBigUint64(24, 2n ** 50n, true);
      expect(await codeOf(read(str))).toBe("ERR_WEIGHTS_TRUNCATED");
      // A key longer than 65535 bytes.
      const longKey = writeGguf({ metadata: [["k".repeat(70000), gv.u8(1)]] });
      expect(await codeOf(read(longKey))).toBe("ERR_WEIGHTS_FORMAT");
    });

    it("unknown value types, bad bools, bad UTF-8, nesting too deep, duplicate keys", async () => {
      const t = writeGguf({ metadata: [["k", gv.u8(1)]] });
      new DataView(t.buffer).setUint32(24 + 9, 13, true);
      expect(await codeOf(read(t))).toBe("ERR_WEIGHTS_FORMAT");
      const b = writeGguf({ metadata: [["k", gv.bool(true)]] });
      b[24 + 9 + 4] = 2;
      expect(await codeOf(read(b))).toBe("ERR_WEIGHTS_FORMAT");
      const u = writeGguf({ metadata: [["k", gv.str("ab")]] });
      u[24 + 9 + 4 + 8] = 0xff;
      expect(await codeOf(read(u))).toBe("ERR_WEIGHTS_FORMAT");
      let deep = gv.arr("u8", [1]);
      for (let i = 0; i < 20; i++) deep = gv.arr("array", [deep]);
      expect(await codeOf(read(writeGguf({ metadata: [["k", deep]] })))).toBe("ERR_WEIGHTS_FORMAT");
      const dup = writeGguf({
        metadata: [
          ["k", gv.u8(1)],
          ["k", gv.u8(2)],
        ],
      });
      expect(await codeOf(read(dup))).toBe("ERR_WEIGHTS_FORMAT");
    });

    it("bad alignment", async () => {
      for (const a of [gv.u32(0), gv.u32(48), gv.str("32")]) {
        const bytes = writeGguf({
          metadata: [["general.alignment", a]],
          alignment: 32,
          tensors: [{ name: "a", dims: [1], ggmlType: 0, data: f32Bytes([1]) }],
        });
        expect(await codeOf(read(bytes))).toBe("ERR_WEIGHTS_FORMAT");
      }
    });

    it("more than 4 dims, rows not whole blocks, duplicate tensor names", async () => {
      const five = writeGguf({
        tensors: [{ name: "a", dims: [1, 1, 1, 1, 1], ggmlType: 0, data: f32Bytes([1]) }],
      });
      await expect(read(five)).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*5 dimensions/);
      const partial = writeGguf({
        tensors: [{ name: "a", dims: [16], ggmlType: 8, data: new Uint8Array(34) }],
      });
      await expect(read(partial)).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*Q8_0/);
      const dup = writeGguf({
        tensors: [
          { name: "a", dims: [1], ggmlType: 0, data: f32Bytes([1]) },
          { name: "a", dims: [1], ggmlType: 0, data: f32Bytes([1]) },
        ],
      });
      await expect(read(dup)).rejects.toThrow(/ERR_WEIGHTS_FORMAT.*twice/);
    });

    it("misaligned, overlapping and out-of-range offsets", async () => {
      const t = (offset: number) => ({
        name: "b",
        dims: [8],
        ggmlType: 0,
        data: f32Bytes(new Array(8).fill(0)),
        offset,
      });
      const a = { name: "a", dims: [16], ggmlType: 0, data: f32Bytes(new Array(16).fill(0)) };
      await expect(read(writeGguf({ tensors: [a, t(80)] }))).rejects.toThrow(
        /ERR_WEIGHTS_FORMAT.*multiple of the alignment/,
      );
      await expect(read(writeGguf({ tensors: [a, t(32)] }))).rejects.toThrow(
        /ERR_WEIGHTS_FORMAT.*overlap/,
      );
      const off = writeGguf({ tensors: [a, t(1 << 20)] }).slice(0, 4096);
      expect(await codeOf(read(off))).toBe("ERR_WEIGHTS_TRUNCATED");
    });

    it("aborts", async () => {
      const ac = new AbortController();
      ac.abort();
      expect(await codeOf(readGgufHeader(new MemorySource(simple()), ac.signal))).toBe(
        "ERR_ABORTED",
      );
    });
  });
});
