// VocabAdaptedDrafter: a draft whose vocabulary has trailing ids the target lacks (or lacks some the target
// has) is seen through the target's vocabulary: out-of-range context ids reach the draft as 0, predictions
// drop ids the target cannot take, and full distributions are resized to the target and renormalised.

import { describe, expect, it } from "vitest";
import type { DraftModel, DraftOptions, DraftPrediction } from "../../../src/draft/draft-model.ts";
import { VocabAdaptedDrafter } from "../../../src/draft/vocab-adapter.ts";

/** A fake draft of `vocab` ids that records the contexts it saw and answers fixed predictions. */
class FakeDraft implements DraftModel {
  readonly seen: number[][] = [];
  readonly accepted: number[][] = [];
  readonly vocabSize: number;
  readonly answer: DraftPrediction;
  constructor(vocabSize: number, answer: DraftPrediction) {
    this.vocabSize = vocabSize;
    this.answer = answer;
  }
  predict(contexts: readonly Int32Array[], _o: DraftOptions): Promise<DraftPrediction[]> {
    this.seen.push(...contexts.map((c) => [...c]));
    return Promise.resolve(contexts.map(() => this.answer));
  }
  accept(a: Int32Array): Promise<void> {
    this.accepted.push([...a]);
    return Promise.resolve();
  }
  reset(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

describe("VocabAdaptedDrafter", () => {
  it("a larger draft: drops ids past the target's vocabulary and renormalises", async () => {
    const probs = new Float32Array(8).fill(0);
    probs.set([0.1, 0.2, 0, 0, 0, 0.3, 0.4, 0]);
    const inner = new FakeDraft(8, {
      topIds: Int32Array.of(6, 5, 1, 0),
      topProbs: Float32Array.of(0.4, 0.3, 0.2, 0.1),
      probs,
    });
    const d = new VocabAdaptedDrafter(inner, 6);
    expect(d.vocabSize).toBe(6);
    const [p] = await d.predict([Int32Array.of(1, 2, 3)], { topK: 4, wantProbs: true });
    expect([...p!.topIds]).toEqual([5, 1, 0]);
    // Mass left in the target's ids is 0.6: everything is scaled by 1 / 0.6.
    expect(p!.probs).toHaveLength(6);
    expect(p!.probs![5]).toBeCloseTo(0.5, 6);
    expect(p!.topProbs[0]).toBeCloseTo(0.5, 6);
    expect(p!.topProbs[2]).toBeCloseTo(0.1 / 0.6, 6);
  });

  it("a smaller draft: target-only ids in contexts reach the draft as 0; probabilities are zero-padded", async () => {
    const inner = new FakeDraft(4, {
      topIds: Int32Array.of(2, 3),
      topProbs: Float32Array.of(0.75, 0.25),
      probs: Float32Array.of(0, 0, 0.75, 0.25),
    });
    const d = new VocabAdaptedDrafter(inner, 6);
    const [p] = await d.predict([Int32Array.of(1, 5, 3)], { topK: 2, wantProbs: true });
    expect(inner.seen).toEqual([[1, 0, 3]]);
    expect([...p!.probs!]).toEqual([0, 0, 0.75, 0.25, 0, 0]);
    await d.accept(Int32Array.of(4, 2));
    expect(inner.accepted).toEqual([[0, 2]]);
  });
});
