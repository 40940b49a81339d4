// Frame chunking and reassembly (protocol/frame.ts) and the f16 wire conversion.
import { describe, expect, it } from "vitest";
import {
  decodeMessage,
  decodeTensor,
  encodeMessage,
  encodeTensor,
  FRAME_HEADER_BYTES,
  FrameCursor,
  FrameError,
  MAX_FRAME_BYTES,
  Reassembler,
  toFrames,
} from "../../src/protocol/frame.ts";
import { f16BitsToF32, f32ToF16Bits } from "../../src/protocol/f16.ts";

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe("frames", () => {
  it.each([
    0,
    1,
    MAX_FRAME_BYTES - FRAME_HEADER_BYTES - 4,
    MAX_FRAME_BYTES,
    3 * MAX_FRAME_BYTES + 17,
    5_000_000,
  ])("round-trips a %i-byte body through chunks of at most 256 KiB", (n) => {
    const body = pattern(n);
    const payload = encodeMessage({ type: "run", runId: 7 }, body);
    const frames = toFrames(payload, 42);
    expect(frames.every((f) => f.byteLength <= MAX_FRAME_BYTES)).toBe(true);
    expect(frames.length).toBe(
      Math.max(1, Math.ceil(payload.byteLength / (MAX_FRAME_BYTES - FRAME_HEADER_BYTES))),
    );
    const r = new Reassembler();
    const done = frames.map((f) => r.push(f));
    expect(done.slice(0, -1).every((d) => d === null)).toBe(true);
    const last = done[done.length - 1];
    expect(last).not.toBeNull();
    const { header, body: back } = decodeMessage(last!);
    expect(header).toEqual({ type: "run", runId: 7 });
    expect(back.byteLength).toBe(body.byteLength);
    expect(Buffer.compare(back, body)).toBe(0);
    expect(r.pendingBytes).toBe(0);
  });

  it("reassembles while whole control frames interleave between chunks", () => {
    const big = toFrames(encodeMessage({ type: "run" }, pattern(600_000)), 1);
    const small = toFrames(encodeMessage({ type: "cancel", runIds: [3] }), 2);
    expect(big.length).toBeGreaterThan(2);
    expect(small.length).toBe(1);
    const r = new Reassembler();
    expect(r.push(big[0]!)).toBeNull();
    const ctl = r.push(small[0]!);
    expect(decodeMessage(ctl!).header).toEqual({ type: "cancel", runIds: [3] });
    let out: Uint8Array | null = null;
    for (const f of big.slice(1)) out = r.push(f);
    expect(decodeMessage(out!).body.byteLength).toBe(600_000);
  });

  it("the cursor stops and resumes lazily", () => {
    const c = new FrameCursor(pattern(1000), 9, 116);
    expect(c.remainingBytes).toBe(1000);
    c.next();
    expect(c.remainingBytes).toBe(900);
    let n = 1;
    while (c.next() !== null) n++;
    expect(n).toBe(10);
    expect(c.remainingBytes).toBe(0);
  });

  it("rejects corrupt, out-of-order, unknown and oversized frames with coded errors", () => {
    const frames = toFrames(encodeMessage({ a: 1 }, pattern(1000)), 5, 200);
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return e instanceof FrameError ? e.code : "not a FrameError";
      }
      return "no error";
    };
    expect(code(() => new Reassembler().push(new Uint8Array(3)))).toBe("ERR_FRAME");
    const badMagic = frames[0]!.slice();
    badMagic[0] = 0;
    expect(code(() => new Reassembler().push(badMagic))).toBe("ERR_FRAME");
    const badKind = frames[0]!.slice();
    badKind[1] = 9;
    expect(code(() => new Reassembler().push(badKind))).toBe("ERR_FRAME");
    expect(code(() => new Reassembler().push(frames[1]!))).toBe("ERR_FRAME"); // starts mid-message
    const r = new Reassembler();
    r.push(frames[0]!);
    expect(code(() => r.push(frames[2]!))).toBe("ERR_FRAME"); // skipped a chunk
    expect(code(() => new Reassembler(500).push(frames[0]!))).toBe("ERR_MESSAGE_TOO_LARGE");
    const whole = toFrames(encodeMessage({ a: 1 }), 1)[0]!;
    expect(code(() => new Reassembler().push(whole.subarray(0, whole.byteLength - 1)))).toBe(
      "ERR_FRAME",
    );
    expect(code(() => decodeMessage(Uint8Array.of(9, 0, 0, 0, 1)))).toBe("ERR_FRAME");
    expect(code(() => decodeMessage(Uint8Array.of(2, 0, 0, 0, 0xff, 0xfe)))).toBe("ERR_FRAME");
  });
});

describe("tensors on the wire", () => {
  it("f32 is bit-exact", () => {
    const x = Float32Array.of(0, -0, 1.5, -3.25e-20, 3.4e38, 1 / 3);
    const back = decodeTensor(encodeTensor(x, "f32"), "f32", x.length);
    expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(x.buffer));
  });

  it("decodes from an unaligned body without losing bytes", () => {
    const x = Float32Array.of(1, 2, 3);
    const bytes = new Uint8Array(13);
    bytes.set(encodeTensor(x, "f32"), 1);
    expect(decodeTensor(bytes.subarray(1), "f32", 3)).toEqual(x);
  });

  it("f16 rounds to nearest even and keeps specials", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [1e6, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [5.960464477539063e-8, 0x0001], // smallest subnormal
      [6.103515625e-5, 0x0400], // smallest normal
      [1 + 2 ** -11, 0x3c00], // tie -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
    ];
    for (const [x, bits] of cases) expect(f32ToF16Bits(x), `f16(${x})`).toBe(bits);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    for (const [, bits] of cases.slice(0, 5)) expect(f32ToF16Bits(f16BitsToF32(bits))).toBe(bits);
    const x = Float32Array.of(0.1, -7.5, 1000.25);
    const y = decodeTensor(encodeTensor(x, "f16"), "f16", 3);
    for (let i = 0; i < 3; i++)
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11);
  });

  it("refuses a body of the wrong size", () => {
    expect(() => decodeTensor(new Uint8Array(10), "f32", 3)).toThrow(FrameError);
  });
});
