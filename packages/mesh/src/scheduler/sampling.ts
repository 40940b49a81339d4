// Sampling maths for the scheduler: noise keyed by (seed, position, token), the filtered target
// distribution (temperature, top-k, top-p), the draft's filtered proposal, and shared-noise sampling: the
// token at a position is the winner of an exponential race, argmin over tokens of E_i / p_i with
// E_i = -ln u(seed, position, i), which is distributed exactly as p (the Gumbel-max trick) and depends on
// nothing but the seed, the position and p. The draft samples from its own q with the same noise, so it
// names the target's token whenever the two races agree. Pure functions; no scheduling, no I/O.

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
 * A uniform in [0, 1) that depends only on (seed, position, token). Keying randomness by position and
 * token (not by call order, nor by which run verified a position) makes a seeded generation a function of
 * its seed and context: independent of network timing, of the decoding mode and of recoveries.
 */
export function uniformAt(seed: number, position: number, token: number): number {
  const a = fmix32(
    fmix32(seed ^ 0x3c6ef372) ^
      Math.imul(position + 1, 0x9e3779b1) ^
      Math.imul(token + 1, 0x85ebca77),
  );
  const b = fmix32(a ^ 0x27d4eb2f ^ Math.imul(token + 7, 0x165667b1));
  return (a * 2 ** 21 + (b >>> 11)) / 2 ** 53;
}

/**
 * The `count` first finishers of the exponential race at `position` over `probs`: argmin_i (-ln u_i) / p_i
 * over p_i > 0, u_i = uniformAt(seed, position, i), then the runners-up in order. The winner is distributed
 * exactly as `probs` (Gumbel-max sampling); racing a draft's q with the same noise couples its picks to the
 * target's.
 */
export function raceOrder(
  probs: ArrayLike<number>,
  seed: number,
  position: number,
  count: number,
): number[] {
  const keys: [number, number][] = [];
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] ?? 0;
    if (!(p > 0)) continue;
    keys.push([-Math.log(1 - uniformAt(seed, position, i)) / p, i]); // 1 - u in (0, 1]: finite
  }
  keys.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return keys.slice(0, Math.max(1, count)).map(([, i]) => i);
}

/** The token a seeded generation takes at `position` when the next-token law is `probs`: the race's winner. */
export function sampleAt(probs: ArrayLike<number>, seed: number, position: number): number {
  let best = -1;
  let bestKey = Number.POSITIVE_INFINITY;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] ?? 0;
    if (!(p > 0)) continue;
    const key = -Math.log(1 - uniformAt(seed, position, i)) / p;
    if (key < bestKey || best < 0) {
      bestKey = key;
      best = i;
    }
  }
  return Math.max(0, best);
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
