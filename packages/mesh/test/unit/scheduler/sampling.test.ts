// Sampling maths: filters, position-keyed uniforms, and lossless speculative sampling. The chi-square test
// runs the real rule and two broken variants (negative controls) against the same threshold, which proves
// the test would catch a broken rule.
import { describe, expect, it } from "vitest";
import {
  draftProbs,
  RNG_STREAM,
  resolveSampling,
  sampleIndex,
  speculativeSample,
  targetProbs,
  uniformAt,
} from "../../../src/scheduler/sampling.ts";
import { chiSquare, chiSquareCritical } from "../../support/sim-stats.ts";
import { softmax } from "../../support/toy-model.ts";

const s = (o: Partial<ReturnType<typeof resolveSampling>> = {}) => ({
  temperature: 1,
  topK: 0,
  topP: 1,
  seed: 1,
  ...o,
});

describe("filters", () => {
  const logits = Float32Array.from([2, 1, 0.5, 3, -1]);

  it("temperature scales logits; top-k and top-p cut in probability order and renormalise", () => {
    const full = targetProbs(logits, s());
    expect([...full].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(full[3]).toBeGreaterThan(full[0]!);
    const cold = targetProbs(logits, s({ temperature: 0.25 }));
    expect(cold[3]).toBeGreaterThan(full[3]!);
    const k2 = targetProbs(logits, s({ topK: 2 }));
    expect([...k2].map((x) => x > 0)).toEqual([true, false, false, true, false]);
    expect(k2[3]! / k2[0]!).toBeCloseTo(Math.exp(1), 10);
    // top-p: smallest prefix whose mass reaches p (3 then 0 carry ~0.85 of the mass here)
    const p = targetProbs(logits, s({ topP: 0.8 }));
    expect([...p].map((x) => x > 0)).toEqual([true, false, false, true, false]);
  });

  it("the draft's proposal from temperature-1 probabilities equals the target filter on its logits", () => {
    const q = draftProbs(softmax(logits), s({ temperature: 0.7, topK: 3 }));
    const expected = targetProbs(logits, s({ temperature: 0.7, topK: 3 }));
    for (let i = 0; i < logits.length; i++) expect(q[i]).toBeCloseTo(expected[i]!, 6);
  });

  it("sampleIndex is inverse-CDF and never picks a zero-probability token", () => {
    const p = [0, 0.5, 0, 0.5];
    expect(sampleIndex(p, 0)).toBe(1);
    expect(sampleIndex(p, 0.49)).toBe(1);
    expect(sampleIndex(p, 0.51)).toBe(3);
    expect(sampleIndex(p, 0.999999)).toBe(3);
  });

  it("uniforms depend only on (seed, position, stream)", () => {
    expect(uniformAt(7, 12, RNG_STREAM.accept)).toBe(uniformAt(7, 12, RNG_STREAM.accept));
    expect(uniformAt(7, 12, RNG_STREAM.accept)).not.toBe(uniformAt(7, 12, RNG_STREAM.sample));
    expect(uniformAt(7, 12, 1)).not.toBe(uniformAt(8, 12, 1));
    const us = Array.from({ length: 10000 }, (_, i) => uniformAt(3, i, 1));
    expect(Math.min(...us)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...us)).toBeLessThan(1);
    expect(us.reduce((a, b) => a + b, 0) / us.length).toBeCloseTo(0.5, 1);
  });

  it("rejects invalid options with a coded error", () => {
    expect(() => resolveSampling({ temperature: -1 })).toThrow(/invalid option/);
    expect(() => resolveSampling({ topP: 0 })).toThrow(/invalid option/);
    expect(resolveSampling({ seed: 5 }).seed).toBe(5);
  });
});

describe("speculative sampling is lossless", () => {
  // A target and a draft that disagree a lot.
  const p = targetProbs(Float32Array.from([1.5, 0.2, -0.5, 2.2, 0.1, -1, 0.8, 0]), s());
  const q = targetProbs(Float32Array.from([-0.5, 2.0, 1.0, 0.3, -1, 1.2, 0.1, 0.4]), s());
  const N = 30000;

  function histogram(step: (seed: number) => number): number[] {
    const h = new Array<number>(p.length).fill(0);
    for (let i = 0; i < N; i++) h[step(i)]!++;
    return h;
  }
  const draftOf = (i: number): number => sampleIndex(q, uniformAt(i, 0, RNG_STREAM.draft));
  const uA = (i: number): number => uniformAt(i, 0, RNG_STREAM.accept);
  const uS = (i: number): number => uniformAt(i, 0, RNG_STREAM.sample);
  const crit = chiSquareCritical(p.length - 1);

  it("the accepted-or-resampled token follows p (chi-square)", () => {
    const h = histogram((i) => speculativeSample(p, q, draftOf(i), uA(i), uS(i)).token);
    const { stat } = chiSquare(h, [...p]);
    expect(stat).toBeLessThan(crit);
  });

  it("negative controls: always keeping the draft, or resampling from p, fail the same test", () => {
    const keep = histogram((i) => draftOf(i));
    expect(chiSquare(keep, [...p]).stat).toBeGreaterThan(crit);
    const wrongResample = histogram((i) => {
      const d = draftOf(i);
      return uA(i) < Math.min(1, p[d]! / q[d]!) ? d : sampleIndex(p, uS(i));
    });
    expect(chiSquare(wrongResample, [...p]).stat).toBeGreaterThan(crit);
  });

  it("keeps the draft with probability sum(min(p, q))", () => {
    let kept = 0;
    for (let i = 0; i < N; i++)
      if (speculativeSample(p, q, draftOf(i), uA(i), uS(i)).accepted) kept++;
    const expected = [...p].reduce((a, pi, j) => a + Math.min(pi, q[j]!), 0);
    expect(kept / N).toBeCloseTo(expected, 1);
  });
});
