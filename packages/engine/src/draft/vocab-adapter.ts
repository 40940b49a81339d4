// A draft model whose vocabulary differs from the target's only in trailing ids, seen through the target's
// vocabulary: contexts' ids the draft does not have become id 0 (only the draft's guesses get worse), and
// predictions drop ids the target does not have, with full distributions cut or zero-padded to the
// target's size and renormalised (sampled decoding stays exact whatever the draft proposes).
// Not the vocabulary check (vocab-check.ts).

import type { DraftModel, DraftOptions, DraftPrediction } from "./draft-model.ts";

export class VocabAdaptedDrafter implements DraftModel {
  readonly vocabSize: number;
  readonly #inner: DraftModel;

  constructor(inner: DraftModel, targetVocab: number) {
    this.#inner = inner;
    this.vocabSize = targetVocab;
  }

  #context(c: Int32Array): Int32Array {
    const n = this.#inner.vocabSize;
    return c.some((id) => id >= n) ? c.map((id) => (id >= n ? 0 : id)) : c;
  }

  async predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]> {
    const out = await this.#inner.predict(
      contexts.map((c) => this.#context(c)),
      options,
      signal,
    );
    return out.map((p) => this.#prediction(p));
  }

  #prediction(p: DraftPrediction): DraftPrediction {
    const v = this.vocabSize;
    const keep: number[] = [];
    for (let i = 0; i < p.topIds.length; i++) if ((p.topIds[i] ?? 0) < v) keep.push(i);
    const topIds = Int32Array.from(keep, (i) => p.topIds[i] ?? 0);
    let probs: Float32Array | undefined;
    let scale = 1;
    if (p.probs !== undefined) {
      probs = new Float32Array(v);
      probs.set(p.probs.subarray(0, Math.min(v, p.probs.length)));
      let sum = 0;
      for (const x of probs) sum += x;
      scale = sum > 0 ? 1 / sum : 1;
      for (let i = 0; i < v; i++) probs[i] = (probs[i] ?? 0) * scale;
    }
    const topProbs = Float32Array.from(keep, (i) => (p.topProbs[i] ?? 0) * scale);
    return probs === undefined ? { topIds, topProbs } : { topIds, topProbs, probs };
  }

  accept(accepted: Int32Array): Promise<void> {
    return this.#inner.accept(this.#context(accepted));
  }

  reset(): Promise<void> {
    return this.#inner.reset();
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}
