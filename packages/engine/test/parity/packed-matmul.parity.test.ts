// Packed-weight matmul parity in Node (Dawn): every stored tensor type against packedMatmulRef on fixed
// and random shapes, bitwise batch invariance and split-vs-whole, on the llvmpipe GLES adapter and on
// SwiftShader; plus the wrapper's guards and upload helpers. The same cases run in Chromium in
// packed-matmul.chromium.parity.test.ts.

import { afterAll, describe, expect, it } from "vitest";
import { EngineError } from "../../src/errors.ts";
import { createDimsUniform, createStorage } from "../../src/gpu/buffers.ts";
import {
  bindPackedMatmul,
  packedGpuBytes,
  packedWeightBytes,
} from "../../src/kernels/matmul-packed.ts";
import { f32Matrix, packedMatrix } from "../../src/quant/tensor-type.ts";
import { runPackedKernelCases } from "../support/packed-kernel-cases.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof EngineError ? e.code : `not an EngineError: ${String(e)}`;
  }
  return "no error";
}

describe("packed matmul upload helpers", () => {
  it("packedGpuBytes sizes f32 rows at the matmul stride and stored bytes to whole words", () => {
    expect(packedGpuBytes("f32", 2, 7)).toBe(2 * 8 * 4);
    expect(packedGpuBytes("f16", 3, 7)).toBe(44);
    expect(packedGpuBytes("bf16", 1, 1)).toBe(4);
    expect(packedGpuBytes("q8_0", 3, 32)).toBe(104);
    expect(packedGpuBytes("q4_1", 3, 64)).toBe(120);
    expect(packedGpuBytes("q4_k", 3, 512)).toBe(864);
    expect(packedGpuBytes("q6_k", 1, 256)).toBe(212);
    expect(codeOf(() => packedGpuBytes("q4_k", 3, 128))).toBe("ERR_KERNEL_SHAPE");
    expect(codeOf(() => packedGpuBytes("q8_0", 0, 32))).toBe("ERR_KERNEL_SHAPE");
  });

  it("packedWeightBytes zero-pads stored bytes and lays f32 rows out at the matmul stride", () => {
    const data = Uint8Array.from({ length: 34 }, (_, i) => i + 1);
    const up = packedWeightBytes(packedMatrix("q8_0", 1, 32, data));
    expect(up.byteLength).toBe(36);
    expect(Array.from(up.subarray(0, 34))).toEqual(Array.from(data));
    expect(Array.from(up.subarray(34))).toEqual([0, 0]);
    const whole = new Uint8Array(144);
    expect(packedWeightBytes(packedMatrix("q4_k", 1, 256, whole))).toBe(whole);
    const f = packedWeightBytes(f32Matrix(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3));
    expect(Array.from(new Float32Array(f.buffer, f.byteOffset, 8))).toEqual([
      1, 2, 3, 0, 4, 5, 6, 0,
    ]);
  });
});

for (const adapter of ["gles", "swiftshader"] as const) {
  const gpu = await openNodeGpu(adapter);
  describe.skipIf(gpu.ctx === null)(`packed matmul parity, Node ${adapter} ${gpu.reason}`, () => {
    afterAll(() => gpu.ctx?.destroy());

    it("every type matches the reference, is batch-invariant and splits by output rows", async () => {
      const ctx = gpu.ctx!;
      // SwiftShader compiles every pipeline slowly: one round of random shapes there, three on llvmpipe.
      const results = await runPackedKernelCases(ctx, undefined, adapter === "swiftshader" ? 1 : 3);
      const failed = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
      expect(failed, `on ${ctx.adapter.device}`).toEqual([]);
      expect(() => ctx.check()).not.toThrow();
    }, 600_000);

    it("guards shapes, buffer sizes and the binding limit", () => {
      const ctx = gpu.ctx!;
      const dims = createDimsUniform(ctx, "dims");
      const small = createStorage(ctx, 64, "small");
      const big = createStorage(ctx, 4096, "big");
      const bind = (type: "q8_0" | "q4_k" | "f16", k: number, n: number, w: GPUBuffer): string =>
        codeOf(() =>
          bindPackedMatmul(
            ctx,
            { type, k, n, bias: false, accumulate: false },
            { dims, x: big, w, y: big },
            1,
          ),
        );
      expect(bind("q8_0", 48, 1, big)).toBe("ERR_KERNEL_SHAPE"); // not whole blocks
      expect(bind("q4_k", 128, 1, big)).toBe("ERR_KERNEL_SHAPE");
      expect(bind("q8_0", 64, 2, small)).toBe("ERR_KERNEL_SHAPE"); // 136 bytes > 64
      expect(bind("f16", 0, 2, big)).toBe("ERR_KERNEL_SHAPE");
      expect(bind("q8_0", 32, 2 ** 31, big)).toBe("ERR_GPU_LIMIT");
      expect(
        codeOf(() =>
          bindPackedMatmul(
            ctx,
            { type: "q8_0", k: 32, n: 4, bias: true, accumulate: false, yStride: 5, yOffset: 2 },
            { dims, x: big, w: big, y: big },
            1,
          ),
        ),
      ).toBe("ERR_KERNEL_SHAPE"); // columns past yStride (and no bias buffer)
      expect(() => ctx.check()).not.toThrow();
    });
  });
}
