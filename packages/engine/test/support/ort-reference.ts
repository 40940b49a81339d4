// Oracles for the ORT drafter's tests: a context's prediction from a from-scratch session run (no past, the
// whole context as one row), and a comparison of predictions that allows float differences between
// onnxruntime code paths: probabilities within a tolerance, and candidate ids equal except where the
// reference's probabilities of the two ids are within that tolerance (a tie). Test-only.

import { expect } from "vitest";
import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import type { DraftSession } from "../../src/draft/ort-session.ts";
import { softmaxRef, topKRef } from "../../src/kernels/reference.ts";

export async function fromScratch(
  session: DraftSession,
  context: ArrayLike<number>,
  topK: number,
): Promise<DraftPrediction> {
  const { layers, vocabSize } = session.info;
  const n = context.length;
  const out = await session.run({
    rows: 1,
    steps: n,
    pastLength: 0,
    tokens: Int32Array.from(context),
    past: Array.from({ length: 2 * layers }, () => new Float32Array(0)),
  });
  const logits = out.logits.subarray((n - 1) * vocabSize, n * vocabSize);
  const top = topKRef(logits, topK);
  return { topIds: top.ids, topProbs: top.probs, probs: softmaxRef(logits) };
}

/** Tolerant equality (see the header); `ties` counts id swaps that the tolerance allowed. */
export function expectClosePrediction(
  got: DraftPrediction,
  want: DraftPrediction,
  wantProbs: boolean,
  what: string,
  tol = 2e-5,
  ties?: { count: number },
): void {
  expect(got.topIds.length, `${what}: k`).toBe(want.topIds.length);
  const full = want.probs;
  if (full === undefined) throw new Error(`${what}: the reference has no probabilities`);
  for (let i = 0; i < got.topIds.length; i++) {
    const g = got.topIds[i] ?? -1;
    const w = want.topIds[i] ?? -1;
    if (g !== w) {
      const gap = Math.abs((full[g] ?? 0) - (full[w] ?? 0));
      expect(gap, `${what}: candidate ${i} is ${g}, the reference's ${w}`).toBeLessThan(tol);
      if (ties !== undefined) ties.count++;
    }
    expect(
      Math.abs((got.topProbs[i] ?? 0) - (want.topProbs[i] ?? 0)),
      `${what}: prob ${i}`,
    ).toBeLessThan(tol);
  }
  if (!wantProbs) {
    expect(got.probs, `${what}: probs not asked`).toBeUndefined();
    return;
  }
  const probs = got.probs;
  if (probs === undefined) throw new Error(`${what}: no probs`);
  expect(probs.length).toBe(full.length);
  let maxDiff = 0;
  for (let v = 0; v < full.length; v++)
    maxDiff = Math.max(maxDiff, Math.abs((probs[v] ?? 0) - (full[v] ?? 0)));
  expect(maxDiff, `${what}: max probability difference`).toBeLessThan(tol);
}
