// Sampling maths for the scheduler: position-keyed uniforms from a seed, the filtered target distribution
// (temperature, top-k, top-p), the draft's filtered proposal, and lossless speculative sampling
// (accept a draft token d ~ q with probability min(1, p(d)/q(d)), else resample from norm(max(0, p - q))).
// Pure functions; no scheduling, no I/O.

import { invalidOption } from "./config.ts";

/** User-facing sampling options (OpenAI / llama.cpp style). temperature 0 = greedy. */
export interface SamplingOptions {
  /** 0 (default) is greedy argmax; > 0 samples from softmax(logits / temperature). */
  temperature?: number | undefined;
  /** Keep only the k most likely tokens (0 or undefined: off). */
  topK?: number | undefined;
  /** Keep the smallest set of most likely tokens whose mass reaches topP (1 or undefined: off). */
  topP?: number | undefined;
  /** RNG seed (uint32); random when omitted (the result reports the seed used). */
  seed?: number | undefined;
}

export interface ResolvedSampling {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

/** Independent uniform streams per position: one for drafting, one for the accept test, one for sampling. */
export const RNG_STREAM = { draft: 1, accept: 2, sample: 3 } as const;

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A uniform in [0, 1) that depends only on (seed, position, stream). Keying randomness by position (not by
 * call order) makes a seeded generation independent of network timing and of which run verified a token.
 */
export function uniformAt(seed: number, position: number, stream: number): number {
  const a = fmix32(
    fmix32(seed ^ 0x3c6ef372) ^ Math.imul(position + 1, 0x9e3779b1) ^ (stream * 0x85ebca77),
  );
  const b = fmix32(a ^ 0x27d4eb2f ^ Math.imul(stream + 7, 0x165667b1));
  return (a * 2 ** 21 + (b >>> 11)) / 2 ** 53;
}

/** The distribution to preserve: softmax(logits / T) restricted by top-k then top-p, renormalised. */
export function targetProbs(logits: ArrayLike<number>, s: ResolvedSampling): Float64Array {
  const scaled = Array.from(logits, (x) => x / s.temperature);
  return filtered(scaled, s);
}

/**
 * The draft's proposal with the same filters, from its temperature-1 probabilities (log p is its logits
 * up to a constant).
 */
export function draftProbs(probs: ArrayLike<number>, s: ResolvedSampling): Float64Array {
  const scaled = Array.from(probs, (p) =>
    p > 0 ? Math.log(p) / s.temperature : Number.NEGATIVE_INFINITY,
  );
  return filtered(scaled, s);
}

function filtered(scaled: readonly number[], s: ResolvedSampling): Float64Array {
  const n = scaled.length;
  const value = (i: number): number => scaled[i] ?? Number.NEGATIVE_INFINITY;
  // Most likely first, ties to the lower id (the order top-k and top-p cut in).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => value(b) - value(a) || a - b);
  const keep = order.slice(0, s.topK > 0 ? Math.min(s.topK, n) : n);
  const max = value(keep[0] ?? 0);
  const weights = keep.map((i) => (Number.isFinite(value(i)) ? Math.exp(value(i) - max) : 0));
  let sum = weights.reduce((a, b) => a + b, 0);
  let cut = keep.length;
  if (s.topP < 1) {
    let mass = 0;
    for (let r = 0; r < keep.length; r++) {
      mass += (weights[r] ?? 0) / sum;
      if (mass >= s.topP) {
        cut = r + 1;
        break;
      }
    }
    sum = weights.slice(0, cut).reduce((a, b) => a + b, 0);
  }
  const p = new Float64Array(n);
  for (let r = 0; r < cut; r++) p[keep[r] ?? 0] = (weights[r] ?? 0) / sum;
  return p;
}

/** Inverse-CDF sample in index order; never returns a zero-probability index. */
export function sampleIndex(probs: ArrayLike<number>, u: number): number {
  const list = Array.from(probs);
  const total = list.reduce((a, b) => a + b, 0);
  const target = u * total;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < list.length; i++) {
    const p = list[i] ?? 0;
    if (p <= 0) continue;
    last = i;
    acc += p;
    if (target < acc) return i;
  }
  return last;
}

/**
 * One step of speculative sampling (Leviathan et al. / Chen et al.): with d ~ q, keep d with probability
 * min(1, p(d)/q(d)); otherwise draw from norm(max(0, p - q)). The result is distributed exactly as p.
 */
export function speculativeSample(
  p: ArrayLike<number>,
  q: ArrayLike<number>,
  draft: number,
  uAccept: number,
  uResample: number,
): { token: number; accepted: boolean } {
  const pd = p[draft] ?? 0;
  const qd = q[draft] ?? 0;
  if (qd > 0 && uAccept < Math.min(1, pd / qd)) return { token: draft, accepted: true };
  const residual = Array.from(p, (pi, i) => Math.max(0, pi - (q[i] ?? 0)));
  const mass = residual.reduce((a, b) => a + b, 0);
  // mass is 0 only when p == q, where the draft is always kept; guard rounding by falling back to p.
  return { token: sampleIndex(mass > 1e-12 ? residual : p, uResample), accepted: false };
}

/** Validates and fills sampling options (seed drawn at random when absent). */
export function resolveSampling(o: SamplingOptions | undefined): ResolvedSampling {
  const temperature = o?.temperature ?? 0;
  const topK = o?.topK ?? 0;
  const topP = o?.topP ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0)
    throw invalidOption("temperature must be >= 0");
  if (!Number.isInteger(topK) || topK < 0) throw invalidOption("topK must be an integer >= 0");
  if (!(topP > 0 && topP <= 1)) throw invalidOption("topP must be in (0, 1]");
  const seed = o?.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed)) throw invalidOption("seed must be an integer");
  return { temperature, topK, topP, seed: seed >>> 0 };
}
