// Plain-TypeScript reference of every kernel: the parity oracle for the WGSL kernels and the compute of
// the CPU backend. Accumulates in float64 (JS numbers), stores float32. Row-independent and with a fixed
// reduction order, so a row's result never depends on the other rows of its batch.
// Not a model: the forward pass that strings these together lives in src/model/.

/** y[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * w  (Hugging Face LlamaRMSNorm order). */
export function rmsnormRef(
  x: Float32Array, // [rows, n]
  w: Float32Array, // [n]
  rows: number,
  n: number,
  eps: number,
): Float32Array {
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const v = x[o + i] ?? 0;
      ss += v * v;
    }
    const inv = Math.fround(1 / Math.sqrt(ss / n + eps));
    for (let i = 0; i < n; i++) y[o + i] = Math.fround((x[o + i] ?? 0) * inv) * (w[i] ?? 0);
  }
  return y;
}

/** y[r, j] = sum_k x[r, k] * w[j, k] (+ bias[j]); w is row-major [n, k] as in nn.Linear. */
export function matmulRef(
  x: Float32Array, // [rows, k]
  w: Float32Array, // [n, k]
  rows: number,
  k: number,
  n: number,
  bias?: Float32Array, // [n]
): Float32Array {
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const xo = r * k;
    for (let j = 0; j < n; j++) {
      const wo = j * k;
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (x[xo + i] ?? 0) * (w[wo + i] ?? 0);
      y[r * n + j] = acc + (bias ? (bias[j] ?? 0) : 0);
    }
  }
  return y;
}

/**
 * Rotary embedding in the Hugging Face rotate-half convention, in place on x [rows, heads, headDim].
 * cos/sin are [rows, rotDim/2] tables (see ropeTables); dims beyond rotDim are left unchanged.
 */
export function ropeRef(
  x: Float32Array, // [rows, heads, headDim]
  cos: Float32Array, // [rows, half]
  sin: Float32Array, // [rows, half]
  rows: number,
  heads: number,
  headDim: number,
  half: number,
): void {
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const o = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[r * half + i] ?? 0;
        const s = sin[r * half + i] ?? 0;
        const x1 = x[o + i] ?? 0;
        const x2 = x[o + i + half] ?? 0;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * cos/sin tables [rows, half] for the given positions and inverse frequencies, computed in float64 and
 * rounded once to float32, so the CPU and GPU backends share bit-identical tables.
 */
export function ropeTables(
  positions: Int32Array,
  invFreq: Float64Array, // [half]
): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r] ?? 0;
    for (let i = 0; i < half; i++) {
      const a = p * (invFreq[i] ?? 0);
      cos[r * half + i] = Math.cos(a);
      sin[r * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/**
 * Grouped-query attention over KV cells chosen per row by a gather list.
 * Row r attends to cells cellIdx[offsets[r] .. offsets[r+1]) in that order (the caller sorts them by
 * position, which makes results independent of where cells sit in the cache). Query head h reads KV head
 * floor(h / (heads / kvHeads)). Softmax is computed max-subtracted; scale = 1/sqrt(headDim) unless given.
 */
export function attentionRef(
  q: Float32Array, // [rows, heads, headDim]
  kCache: Float32Array, // [cells, kvHeads, headDim]
  vCache: Float32Array, // [cells, kvHeads, headDim]
  offsets: Int32Array, // [rows + 1]
  cellIdx: Int32Array, // [offsets[rows]]
  rows: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  scale = 1 / Math.sqrt(headDim),
): Float32Array {
  const out = new Float32Array(rows * heads * headDim);
  const group = heads / kvHeads;
  const acc = new Float64Array(headDim);
  for (let r = 0; r < rows; r++) {
    const start = offsets[r] ?? 0;
    const end = offsets[r + 1] ?? 0;
    const scores = new Float64Array(end - start);
    for (let h = 0; h < heads; h++) {
      const qo = (r * heads + h) * headDim;
      const kvh = Math.floor(h / group);
      let max = -Infinity;
      for (let j = start; j < end; j++) {
        const ko = ((cellIdx[j] ?? 0) * kvHeads + kvh) * headDim;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += (q[qo + d] ?? 0) * (kCache[ko + d] ?? 0);
        s *= scale;
        scores[j - start] = s;
        if (s > max) max = s;
      }
      acc.fill(0);
      let sum = 0;
      for (let j = start; j < end; j++) {
        const e = Math.exp((scores[j - start] ?? 0) - max);
        sum += e;
        const vo = ((cellIdx[j] ?? 0) * kvHeads + kvh) * headDim;
        for (let d = 0; d < headDim; d++) acc[d] = (acc[d] ?? 0) + e * (vCache[vo + d] ?? 0);
      }
      for (let d = 0; d < headDim; d++) out[qo + d] = sum > 0 ? (acc[d] ?? 0) / sum : 0;
    }
  }
  return out;
}

/** y = silu(gate) * up elementwise, silu(g) = g / (1 + exp(-g)). */
export function siluMulRef(gate: Float32Array, up: Float32Array): Float32Array {
  const y = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i] ?? 0;
    y[i] = (g / (1 + Math.exp(-g))) * (up[i] ?? 0);
  }
  return y;
}

/** x += y elementwise, in place (residual connection). */
export function addRef(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] = (x[i] ?? 0) + (y[i] ?? 0);
}

/** Gathers embedding rows: y[r, :] = table[tokens[r], :]. */
export function embedRef(
  table: Float32Array, // [vocab, hidden]
  tokens: Int32Array, // [rows]
  hidden: number,
): Float32Array {
  const y = new Float32Array(tokens.length * hidden);
  for (let r = 0; r < tokens.length; r++) {
    const t = tokens[r] ?? 0;
    y.set(table.subarray(t * hidden, (t + 1) * hidden), r * hidden);
  }
  return y;
}

/** Softmax at temperature 1 of one logits row, in float64, returned as float32. */
export function softmaxRef(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const p = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) p[i] = Math.exp((logits[i] ?? 0) - max) / sum;
  return p;
}

/** Top-k of one logits row: ids by descending logit, ties broken by lower id; probabilities at T=1. */
export function topKRef(
  logits: Float32Array,
  k: number,
): { ids: Int32Array; probs: Float32Array; argmax: number; prob: number } {
  const kk = Math.max(1, Math.min(k, logits.length));
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] ?? 0;
    if (ids.length === kk && v <= (logits[ids[kk - 1] ?? 0] ?? 0)) continue;
    let pos = ids.length;
    while (pos > 0 && (logits[ids[pos - 1] ?? 0] ?? 0) < v) pos--;
    ids.splice(pos, 0, i);
    if (ids.length > kk) ids.pop();
  }
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const probs = new Float32Array(kk);
  for (let i = 0; i < kk; i++) probs[i] = Math.exp((logits[ids[i] ?? 0] ?? 0) - max) / sum;
  const argmax = ids[0] ?? 0;
  return { ids: Int32Array.from(ids), probs, argmax, prob: probs[0] ?? 0 };
}
