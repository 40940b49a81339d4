// The plain-TypeScript forward pass of one Llama-family layer and of the head (final norm, LM head, top-k),
// strung together from kernels/reference.ts. Every step is row-independent with a fixed reduction order,
// so a row's result does not depend on the batch around it nor on where its KV cells sit.
// Not a shard: batching, the KV cache and abort handling live in cpu-shard.ts.

import type { ModelConfig } from "../config.ts";
import {
  addRef,
  attentionRef,
  rmsnormRef,
  ropeRef,
  siluMulRef,
  topKRef,
} from "../kernels/reference.ts";
import type { RowOutput } from "./batch.ts";
import type { KvClaim } from "./kv-cache.ts";
import type { PackedMatrix } from "../quant/tensor-type.ts";
import { linearCpu } from "./packed-linear.ts";
import type { LayerWeights } from "./weights.ts";

/** One layer's KV storage: K and V for every cell. */
export interface LayerKv {
  k: Float32Array; // [cells, kvHeads, headDim]
  v: Float32Array; // [cells, kvHeads, headDim]
}

/**
 * Runs one layer on h in place: h += attn(norm(h)); h += mlp(norm(h)). Writes the rows' K/V (after RoPE)
 * into their claimed cells before attending, so a row sees earlier rows of its own batch.
 */
export function layerForwardCpu(
  config: ModelConfig,
  w: LayerWeights,
  h: Float32Array, // [rows, hidden], updated in place
  rows: number,
  rope: { cos: Float32Array; sin: Float32Array }, // [rows, headDim/2]
  kv: LayerKv,
  claim: KvClaim,
): void {
  const { hiddenSize: hd, numHeads, numKvHeads, headDim, kvDim } = config;
  const half = headDim / 2;

  const xn = rmsnormRef(h, w.inputNorm, rows, hd, config.rmsNormEps);
  const q = linearCpu(xn, w.q, rows, w.qBias);
  const k = linearCpu(xn, w.k, rows, w.kBias);
  const v = linearCpu(xn, w.v, rows, w.vBias);
  ropeRef(q, rope.cos, rope.sin, rows, numHeads, headDim, half);
  ropeRef(k, rope.cos, rope.sin, rows, numKvHeads, headDim, half);
  for (let r = 0; r < rows; r++) {
    const cell = claim.cells[r] ?? 0;
    kv.k.set(k.subarray(r * kvDim, (r + 1) * kvDim), cell * kvDim);
    kv.v.set(v.subarray(r * kvDim, (r + 1) * kvDim), cell * kvDim);
  }
  const attn = attentionRef(
    q,
    kv.k,
    kv.v,
    claim.offsets,
    claim.cellIdx,
    rows,
    numHeads,
    numKvHeads,
    headDim,
  );
  addRef(h, linearCpu(attn, w.o, rows, w.oBias));

  const xn2 = rmsnormRef(h, w.postNorm, rows, hd, config.rmsNormEps);
  const gate = linearCpu(xn2, w.gate, rows, w.gateBias);
  const up = linearCpu(xn2, w.up, rows, w.upBias);
  addRef(h, linearCpu(siluMulRef(gate, up), w.down, rows, w.downBias));
}

/**
 * Final norm and LM head for the output rows only; per row the argmax, its probability and the top-k, and
 * the full logits for rows in logitsRows.
 */
export function headForwardCpu(
  config: ModelConfig,
  finalNorm: Float32Array, // [hidden]
  lmHead: PackedMatrix, // [vocab, hidden]
  h: Float32Array, // [rows, hidden]
  outputRows: Int32Array,
  logitsRows: Int32Array | undefined,
  topK: number,
): RowOutput[] {
  const hd = config.hiddenSize;
  const n = outputRows.length;
  const picked = new Float32Array(n * hd);
  for (let i = 0; i < n; i++) {
    const r = outputRows[i] ?? 0;
    picked.set(h.subarray(r * hd, (r + 1) * hd), i * hd);
  }
  const xn = rmsnormRef(picked, finalNorm, n, hd, config.rmsNormEps);
  const logits = linearCpu(xn, lmHead, n);
  const wantLogits = new Set(logitsRows ?? []);
  const out: RowOutput[] = [];
  for (let i = 0; i < n; i++) {
    const row = outputRows[i] ?? 0;
    const rowLogits = logits.slice(i * config.vocabSize, (i + 1) * config.vocabSize);
    const top = topKRef(rowLogits, topK);
    out.push({
      row,
      argmax: top.argmax,
      prob: top.prob,
      topIds: top.ids,
      topProbs: top.probs,
      logits: wantLogits.has(row) ? rowLogits : undefined,
    });
  }
  return out;
}
