// ForwardPlan: the WebGPU forward pass of a shard as pre-bound kernel dispatches over scratch buffers sized
// for a row capacity. Per layer: rmsnorm, fused qkv matmul, rope on q|k, kv-write, attention, o matmul
// (+= residual), rmsnorm, fused gate|up matmul, silu-mul, down matmul (+= residual); the head gathers the
// output rows, applies the final norm and the LM head. Bind groups are built once per capacity and reused
// by every run, so a run only writes its inputs and encodes. Matmul inputs (xn, attn, act, hn) have rows of
// matmulRowStride(k) floats so any hidden, q or intermediate size works; the residual stream x is dense.
// Not the shard (KV metadata, runs, readback).

import type { ModelConfig } from "../config.ts";
import type { BufferPool } from "../gpu/buffers.ts";
import { createDimsUniform } from "../gpu/buffers.ts";
import type { GpuContext } from "../gpu/device.ts";
import type { BoundOp } from "../gpu/kernel-op.ts";
import { bindAttention } from "../kernels/attention.ts";
import { bindKvWrite } from "../kernels/kv-write.ts";
import { matmulRowStride } from "../kernels/matmul.ts";
import { bindPackedMatmul } from "../kernels/matmul-packed.ts";
import { bindRmsnorm } from "../kernels/rmsnorm.ts";
import { bindRope } from "../kernels/rope.ts";
import { bindSiluMul } from "../kernels/silu-mul.ts";
import type { GpuMatrix, GpuShardWeights } from "./gpu-weights.ts";

/** Row capacities the scratch buffers are sized for. */
export interface PlanCapacity {
  rows: number;
  /** u32 entries of the gather buffer (rows + 1 offsets plus every row's cell list). */
  gather: number;
  outRows: number;
}

// hS, qS, mS: matmulRowStride of hidden, qDim, intermediate (equal to them when multiples of 4).
interface Scratch {
  x: GPUBuffer; // [rows, hidden] residual stream
  xn: GPUBuffer; // [rows, hS] normed
  qkv: GPUBuffer; // [rows, qDim + 2 kvDim]
  attn: GPUBuffer; // [rows, qS]
  gu: GPUBuffer; // [rows, 2 intermediate]
  act: GPUBuffer; // [rows, mS]
  cells: GPUBuffer; // u32 [rows]
  gather: GPUBuffer; // u32 [gather]
  cos: GPUBuffer; // [rows, headDim / 2]
  sin: GPUBuffer; // [rows, headDim / 2]
  hsel?: GPUBuffer | undefined; // [outRows, hidden] the output rows of x
  hn?: GPUBuffer | undefined; // [outRows, hS]
  logits?: GPUBuffer | undefined; // [outRows, vocab]
}

export class ForwardPlan {
  readonly capacity: PlanCapacity;
  readonly dims: GPUBuffer; // Dims { rows }
  readonly dimsOut: GPUBuffer; // Dims { outRows }
  readonly scratch: Scratch;
  readonly #layers: BoundOp[][];
  readonly #head: BoundOp[];
  readonly #pool: BufferPool;

  constructor(
    ctx: GpuContext,
    pool: BufferPool,
    config: ModelConfig,
    weights: GpuShardWeights,
    kv: readonly GPUBuffer[], // per layer [kvCells, 2, kvDim]
    kvCells: number,
    capacity: PlanCapacity,
  ) {
    this.capacity = capacity;
    this.#pool = pool;
    const { hiddenSize: h, intermediateSize: m, qDim, kvDim, vocabSize } = config;
    const qkvDim = qDim + 2 * kvDim;
    const hS = matmulRowStride(h);
    const qS = matmulRowStride(qDim);
    const mS = matmulRowStride(m);
    const half = config.rope.invFreq.length;
    const rows = capacity.rows;
    const f32 = (n: number, label: string): GPUBuffer => pool.acquire(n * 4, label);
    this.dims = createDimsUniform(ctx, "dims");
    this.dimsOut = createDimsUniform(ctx, "dims out");
    const s: Scratch = {
      x: f32(rows * h, "x"),
      xn: f32(rows * hS, "xn"),
      qkv: f32(rows * qkvDim, "qkv"),
      attn: f32(rows * qS, "attn"),
      gu: f32(rows * 2 * m, "gate|up"),
      act: f32(rows * mS, "act"),
      cells: f32(rows, "cells"),
      gather: f32(capacity.gather, "gather"),
      cos: f32(rows * half, "cos"),
      sin: f32(rows * half, "sin"),
    };
    if (weights.lmHead !== undefined) {
      s.hsel = f32(capacity.outRows * h, "head rows");
      s.hn = f32(capacity.outRows * hS, "head normed");
      s.logits = f32(capacity.outRows * vocabSize, "logits");
    }
    this.scratch = s;
    const dims = this.dims;
    const eps = config.rmsNormEps;
    this.#layers = weights.layers.map((w, i) => {
      const kvBuf = kv[i];
      if (kvBuf === undefined) throw new Error(`no KV buffer for layer ${i}`);
      const l = `layer ${i}`;
      return [
        bindRmsnorm(
          ctx,
          { n: h, eps, yStride: hS },
          { dims, x: s.x, w: w.inputNorm, y: s.xn },
          rows,
          `${l} input norm`,
        ),
        ...bindMatrix(ctx, w.qkv, dims, s.xn, s.qkv, false, rows, `${l} qkv`),
        bindRope(
          ctx,
          {
            heads: config.numHeads + config.numKvHeads,
            headDim: config.headDim,
            half,
            stride: qkvDim,
            offset: 0,
          },
          { dims, x: s.qkv, cos: s.cos, sin: s.sin },
          rows,
          `${l} rope`,
        ),
        bindKvWrite(
          ctx,
          { kvDim, stride: qkvDim, kOffset: qDim, vOffset: qDim + kvDim, cells: kvCells },
          { dims, src: s.qkv, cells: s.cells, kv: kvBuf },
          rows,
          `${l} kv-write`,
        ),
        bindAttention(
          ctx,
          {
            heads: config.numHeads,
            kvHeads: config.numKvHeads,
            headDim: config.headDim,
            qStride: qkvDim,
            qOffset: 0,
            cells: kvCells,
            outStride: qS,
          },
          { dims, q: s.qkv, kv: kvBuf, gather: s.gather, out: s.attn },
          rows,
          `${l} attention`,
        ),
        ...bindMatrix(ctx, w.o, dims, s.attn, s.x, true, rows, `${l} o_proj`),
        bindRmsnorm(
          ctx,
          { n: h, eps, yStride: hS },
          { dims, x: s.x, w: w.postNorm, y: s.xn },
          rows,
          `${l} post norm`,
        ),
        ...bindMatrix(ctx, w.gateUp, dims, s.xn, s.gu, false, rows, `${l} gate|up`),
        bindSiluMul(
          ctx,
          { m, outStride: mS },
          { dims, gu: s.gu, out: s.act },
          rows,
          `${l} silu-mul`,
        ),
        ...bindMatrix(ctx, w.down, dims, s.act, s.x, true, rows, `${l} down_proj`),
      ];
    });
    this.#head = [];
    if (
      weights.lmHead !== undefined &&
      weights.finalNorm !== undefined &&
      s.hsel &&
      s.hn &&
      s.logits
    ) {
      const out = capacity.outRows;
      const d = this.dimsOut;
      this.#head.push(
        bindRmsnorm(
          ctx,
          { n: h, eps, yStride: hS },
          { dims: d, x: s.hsel, w: weights.finalNorm, y: s.hn },
          out,
          "final norm",
        ),
        ...bindMatrix(ctx, weights.lmHead, d, s.hn, s.logits, false, out, "lm_head"),
      );
    }
  }

  get layerCount(): number {
    return this.#layers.length;
  }

  /** Encodes layer i (of this shard) for `rows` rows; dims must hold rows. */
  encodeLayer(pass: GPUComputePassEncoder, i: number, rows: number): void {
    for (const op of this.#layers[i] ?? []) op.encode(pass, rows);
  }

  /**
   * Encodes the head for the given output rows: copies them out of x (outside any pass), then final norm
   * and LM head into scratch.logits ([outRows, vocab]); dimsOut must hold outputRows.length.
   */
  encodeHead(encoder: GPUCommandEncoder, outputRows: Int32Array, hiddenSize: number): void {
    const { x, hsel } = this.scratch;
    if (hsel === undefined) return;
    const rowBytes = hiddenSize * 4;
    // Output rows are ascending; copy each run of consecutive rows at once.
    for (let i = 0; i < outputRows.length;) {
      let j = i + 1;
      while (j < outputRows.length && (outputRows[j] ?? 0) === (outputRows[j - 1] ?? 0) + 1) j++;
      encoder.copyBufferToBuffer(
        x,
        (outputRows[i] ?? 0) * rowBytes,
        hsel,
        i * rowBytes,
        (j - i) * rowBytes,
      );
      i = j;
    }
    const pass = encoder.beginComputePass({ label: "head" });
    for (const op of this.#head) op.encode(pass, outputRows.length);
    pass.end();
  }

  /** Returns the scratch buffers to the pool and frees the uniforms. */
  destroy(): void {
    for (const op of [...this.#layers.flat(), ...this.#head]) op.destroy();
    for (const b of Object.values(this.scratch) as (GPUBuffer | undefined)[]) {
      if (b !== undefined) this.#pool.release(b);
    }
    this.dims.destroy();
    this.dimsOut.destroy();
  }
}

/** One matmul per part of a (possibly split or mixed-type) matrix, each filling its columns of y. */
function bindMatrix(
  ctx: GpuContext,
  w: GpuMatrix,
  dims: GPUBuffer,
  x: GPUBuffer,
  y: GPUBuffer,
  accumulate: boolean,
  rows: number,
  label: string,
): BoundOp[] {
  return w.parts.map((p) =>
    bindPackedMatmul(
      ctx,
      {
        type: p.type,
        k: w.k,
        n: p.n,
        bias: p.bias !== undefined,
        accumulate,
        yStride: w.n,
        yOffset: p.n0,
      },
      { dims, x, w: p.buffer, bias: p.bias, y },
      rows,
      w.parts.length > 1 ? `${label}[${p.n0}]` : label,
    ),
  );
}
