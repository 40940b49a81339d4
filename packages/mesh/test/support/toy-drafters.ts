// Toy drafters implementing the Drafter port over a ToyModel target: "target" (the target itself as
// draft, q = p), "aligned" (agrees with the target's top-1 at a chosen fraction of contexts, otherwise
// prefers the target's second choice), "random" (unrelated to the target), and "profile" (mimics a real
// draft's measured rank hit rates and confidence, see toy-draft-profiles.ts). Each caches evaluated
// prefixes like a real drafter's per-prefix KV, and with a clock it takes virtual time per new token.
// Not a model; the distributions are deterministic functions of (seed, context).

import type { DraftPrediction, Drafter } from "../../src/ports.ts";
import type { DraftProfile } from "./toy-draft-profiles.ts";
import { hash2, hashList, rankIds, softmax, ToyReference, type ToyModel } from "./toy-model.ts";

export type ToyDraftKind = "target" | "aligned" | "random" | "profile";

export interface ToyDrafterOptions {
  kind: ToyDraftKind;
  /** The target model the draft imitates (and whose vocab it shares). */
  model: ToyModel;
  /** "aligned": the fraction of contexts where the draft's distribution follows the target (default 0.8). */
  agreement?: number;
  /** "profile": the measured draft to mimic (required for that kind). */
  profile?: DraftProfile;
  seed?: number;
  /**
   * With a clock, predict() sleeps stepMs + (newTokens - 1) * extraTokenMs + (freshContexts - 1) *
   * extraContextMs when it evaluates new tokens (freshContexts: contexts with at least one new token).
   */
  clock?: { sleep(ms: number, signal?: AbortSignal): Promise<void> };
  stepMs?: number;
  extraTokenMs?: number;
  extraContextMs?: number;
}

export interface ToyDrafterStats {
  calls: number;
  contexts: number;
  newTokens: number;
  busyMs: number;
  accepts: number;
  resets: number;
}

export class ToyDrafter implements Drafter {
  readonly vocabSize: number;
  readonly kind: ToyDraftKind;
  readonly stats: ToyDrafterStats = {
    calls: 0,
    contexts: 0,
    newTokens: 0,
    busyMs: 0,
    accepts: 0,
    resets: 0,
  };
  readonly #ref: ToyReference;
  readonly #opts: ToyDrafterOptions;
  #destroyed = false;

  constructor(options: ToyDrafterOptions) {
    this.#opts = options;
    this.kind = options.kind;
    this.vocabSize = options.model.spec.vocabSize;
    this.#ref = new ToyReference(options.model);
  }

  /** The draft's probabilities after `ctx` (no cost, no caching effects): for tests. */
  distribution(ctx: ArrayLike<number>): Float32Array {
    return this.#probs(ctx, new ToyReference(this.#opts.model));
  }

  async predict(
    contexts: readonly Int32Array[],
    options: { topK: number; wantProbs?: boolean },
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]> {
    if (this.#destroyed) throw new Error("ToyDrafter destroyed");
    signal?.throwIfAborted();
    let newTokens = 0;
    let freshContexts = 0;
    for (const ctx of contexts) {
      const missing = this.#ref.missing(ctx);
      newTokens += missing;
      if (missing > 0) freshContexts++;
    }
    const out = contexts.map((ctx) => {
      const probs = this.#probs(ctx, this.#ref);
      const ids = rankIds(probs).slice(0, Math.max(1, options.topK));
      return {
        topIds: Int32Array.from(ids),
        topProbs: Float32Array.from(ids.map((i) => probs[i]!)),
        ...(options.wantProbs === true ? { probs } : {}),
      };
    });
    this.stats.calls++;
    this.stats.contexts += contexts.length;
    this.stats.newTokens += newTokens;
    const { clock, stepMs = 0, extraTokenMs = 0, extraContextMs = 0 } = this.#opts;
    if (clock !== undefined && newTokens > 0) {
      const ms = stepMs + (newTokens - 1) * extraTokenMs + (freshContexts - 1) * extraContextMs;
      this.stats.busyMs += ms;
      await clock.sleep(ms, signal);
    }
    return out;
  }

  accept(accepted: Int32Array): Promise<void> {
    this.stats.accepts++;
    this.#ref.prune(accepted);
    return Promise.resolve();
  }

  reset(): Promise<void> {
    this.stats.resets++;
    this.#ref.clear();
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    this.#destroyed = true;
    this.#ref.clear();
    return Promise.resolve();
  }

  #probs(ctx: ArrayLike<number>, ref: ToyReference): Float32Array {
    if (this.kind !== "profile") return softmax(this.#logits(ctx, ref));
    const profile = this.#opts.profile;
    if (profile === undefined) throw new Error('ToyDrafter: kind "profile" needs a profile');
    const target = ref.logitsAfter(ctx); // also populates the prefix cache
    const h = hashList(hash2(this.#opts.seed ?? 11, 3), ctx);
    return profileProbs(profile, h, rankIds(target)[0] ?? 0, target.length);
  }

  #logits(ctx: ArrayLike<number>, ref: ToyReference): Float32Array {
    const { kind, seed = 11, agreement = 0.8, model } = this.#opts;
    const target = ref.logitsAfter(ctx); // also populates the prefix cache, like a real drafter's KV
    if (kind === "target") return target;
    const h = hashList(hash2(seed, kind === "random" ? 1 : 2), ctx);
    if (kind === "random") {
      const out = new Float32Array(target.length);
      const { logitScale, logitPower } = model.spec;
      for (let v = 0; v < out.length; v++)
        out[v] = logitScale * ((hash2(h, v) & 0xffff) / 65536) ** logitPower;
      return out;
    }
    // aligned: a slightly flatter copy of the target; at (1 - agreement) of contexts the top two swap.
    const out = Float32Array.from(target, (x) => 0.9 * x);
    if ((h & 0xffff) / 65536 >= agreement) {
      const [a, b] = rankIds(target);
      const t = out[a!]!;
      out[a!] = out[b!]!;
      out[b!] = t;
    }
    return out;
  }
}

/**
 * A distribution with one measured position's shape: record h mod N gives the draft's top-4 probabilities
 * and the rank of the target's token among them (4: lower). Other tokens take the remaining places in a
 * hash order; the tail shares what probability is left, strictly below the 4th candidate (so with a
 * small toy vocabulary the result may sum to less than 1: for greedy drafting, not for sampling).
 */
function profileProbs(
  profile: DraftProfile,
  h: number,
  targetToken: number,
  vocab: number,
): Float32Array {
  const rec = profile.records[(h >>> 0) % profile.records.length]!;
  const [rank, ...top] = rec;
  const others = Array.from({ length: vocab }, (_, v) => v)
    .filter((v) => v !== targetToken)
    .sort((a, b) => hash2(h, a) - hash2(h, b) || a - b);
  const place = rank < 4 ? rank : 4 + (hash2(h, -1) % (vocab - 4));
  const order = [...others.slice(0, place), targetToken, ...others.slice(place)];
  const probs = new Float32Array(vocab);
  const left = Math.max(0, 1 - top.reduce((a, b) => a + b, 0));
  let floor = top[3] ?? 0;
  order.forEach((v, i) => {
    if (i < 4) probs[v] = top[i] ?? 0;
    else {
      floor *= 0.98;
      probs[v] = Math.min(floor, left * 0.5 ** (i - 3));
    }
  });
  return probs;
}
