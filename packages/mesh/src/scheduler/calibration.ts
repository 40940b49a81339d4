// Online calibration of the draft's confidence: an estimate of P(the target's greedy token is the draft's
// rank-r candidate | r, the draft's probability of that candidate), learnt from every position the target
// verifies where the draft had predicted the same context. The scheduler gates on these calibrated values
// (pAccept/pSplit cutoffs, best-first tip scores) instead of raw draft probabilities. Pure bookkeeping.

import type { DraftPrediction } from "../ports.ts";

/** Upper edges of the probability buckets (the last bucket is [0.8, 1]). */
const PROB_EDGES = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8] as const;
const BUCKETS = PROB_EDGES.length + 1;
/** Rank groups: the draft's top-1, its second and third choice, everything below. */
const RANK_GROUPS = 4;

function bucketOf(prob: number): number {
  let b = 0;
  while (b < PROB_EDGES.length && prob >= (PROB_EDGES[b] ?? 1)) b++;
  return b;
}

function groupOf(rank: number): number {
  return Math.min(Math.max(0, rank), RANK_GROUPS - 1);
}

export interface CalibrationCell {
  rank: number;
  /** The bucket's probability range [lo, hi). */
  lo: number;
  hi: number;
  observations: number;
  hits: number;
  /** Mean raw draft probability of the observations. */
  meanProb: number;
}

/**
 * Counts per (rank group, probability bucket). The estimate for a candidate of raw probability p is
 * `(hits + w·prior) / (n + w)` over its cell, where w = priorWeight and the prior is p scaled by its rank
 * group's overall ratio of hits to summed probability (itself shrunk towards 1 with weight w). With no
 * observations the estimate is the raw probability; a few dozen positions are enough to correct a draft
 * that is under- or over-confident everywhere, and a few per cell to correct its shape.
 */
export class DraftCalibration {
  readonly priorWeight: number;
  readonly #n = new Float64Array(RANK_GROUPS * BUCKETS);
  readonly #hits = new Float64Array(RANK_GROUPS * BUCKETS);
  readonly #sumProb = new Float64Array(RANK_GROUPS * BUCKETS);
  readonly #groupHits = new Float64Array(RANK_GROUPS);
  readonly #groupProb = new Float64Array(RANK_GROUPS);
  #positions = 0;

  constructor(priorWeight = 2) {
    if (!(priorWeight > 0)) throw new RangeError("priorWeight must be > 0");
    this.priorWeight = priorWeight;
  }

  /** Verified positions observed so far. */
  get positions(): number {
    return this.#positions;
  }

  /** One verified position: the draft's candidates for its context and the target's token there. */
  observePrediction(prediction: DraftPrediction, token: number): void {
    this.#positions++;
    const k = prediction.topIds.length;
    for (let r = 0; r < k; r++) {
      const p = prediction.topProbs[r] ?? 0;
      this.observe(r, p, prediction.topIds[r] === token);
    }
  }

  observe(rank: number, prob: number, hit: boolean): void {
    const g = groupOf(rank);
    const i = g * BUCKETS + bucketOf(prob);
    this.#n[i] = (this.#n[i] ?? 0) + 1;
    this.#sumProb[i] = (this.#sumProb[i] ?? 0) + prob;
    this.#groupProb[g] = (this.#groupProb[g] ?? 0) + prob;
    if (hit) {
      this.#hits[i] = (this.#hits[i] ?? 0) + 1;
      this.#groupHits[g] = (this.#groupHits[g] ?? 0) + 1;
    }
  }

  /** Calibrated P(the target picks the rank-`rank` candidate | its raw draft probability `prob`). */
  confidence(rank: number, prob: number): number {
    const g = groupOf(rank);
    const w = this.priorWeight;
    const scale = ((this.#groupHits[g] ?? 0) + w) / ((this.#groupProb[g] ?? 0) + w);
    const prior = Math.min(1, prob * scale);
    const i = g * BUCKETS + bucketOf(prob);
    return ((this.#hits[i] ?? 0) + w * prior) / ((this.#n[i] ?? 0) + w);
  }

  /** The learnt table (for the README, tests and debugging). */
  cells(): CalibrationCell[] {
    const out: CalibrationCell[] = [];
    for (let g = 0; g < RANK_GROUPS; g++) {
      for (let b = 0; b < BUCKETS; b++) {
        const i = g * BUCKETS + b;
        const n = this.#n[i] ?? 0;
        if (n === 0) continue;
        out.push({
          rank: g,
          lo: b === 0 ? 0 : (PROB_EDGES[b - 1] ?? 0),
          hi: PROB_EDGES[b] ?? 1,
          observations: n,
          hits: this.#hits[i] ?? 0,
          meanProb: (this.#sumProb[i] ?? 0) / n,
        });
      }
    }
    return out;
  }
}

/**
 * The draft's predictions of one generation, by context, until the target has verified the position after
 * that context (then the pair becomes one calibration observation) or the context left the accepted path.
 */
export class PredictionLog {
  /** context length -> context hash -> prediction */
  readonly #byLength = new Map<number, Map<string, DraftPrediction>>();

  get size(): number {
    let n = 0;
    for (const m of this.#byLength.values()) n += m.size;
    return n;
  }

  record(context: ArrayLike<number>, prediction: DraftPrediction): void {
    let m = this.#byLength.get(context.length);
    if (m === undefined) {
      m = new Map();
      this.#byLength.set(context.length, m);
    }
    m.set(contextKey(context, context.length), prediction);
  }

  /** The prediction recorded for tokens[0, length), removed from the log; undefined when none. */
  take(tokens: readonly number[], length: number): DraftPrediction | undefined {
    const m = this.#byLength.get(length);
    if (m === undefined) return undefined;
    const key = contextKey(tokens, length);
    const p = m.get(key);
    if (p !== undefined) m.delete(key);
    return p;
  }

  /** Drops every prediction for a context shorter than `length` (those positions are verified). */
  prune(length: number): void {
    for (const len of this.#byLength.keys()) if (len < length) this.#byLength.delete(len);
  }

  clear(): void {
    this.#byLength.clear();
  }
}

/** Two 32-bit hashes of the first `length` tokens (collisions only blur statistics, never outputs). */
function contextKey(tokens: ArrayLike<number>, length: number): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    const t = tokens[i] ?? 0;
    a = Math.imul(a ^ t, 0x01000193);
    b = Math.imul(b ^ (t + 0x7f4a7c15), 0x85ebca6b) ^ (b >>> 13);
  }
  return `${a >>> 0}:${b >>> 0}`;
}
