// Sampling maths: filters, noise keyed by (seed, position, token), and shared-noise sampling: exact in law
// (chi-square; a broken variant, the negative control, fails the same threshold), a pure function of
// (seed, position, p), and a draft using the same noise names the target's token as often as the coupling
// promises.
import { describe, expect, it } from "vitest";
import {
  draftProbs,
  resolveSampling,
  sampleAt,
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

  it("sampleAt never picks a zero-probability token and is a function of (seed, position, p)", () => {
    const p = [0, 0.5, 0, 0.5];
    for (let seed = 0; seed < 200; seed++) {
      const t = sampleAt(p, seed, 3);
      expect([1, 3]).toContain(t);
      expect(sampleAt(p, seed, 3)).toBe(t);
    }
    expect(sampleAt([0, 0, 1], 5, 9)).toBe(2);
  });

  it("noise depends only on (seed, position, token)", () => {
    expect(uniformAt(7, 12, 3)).toBe(uniformAt(7, 12, 3));
    expect(uniformAt(7, 12, 3)).not.toBe(uniformAt(7, 12, 4));
    expect(uniformAt(7, 12, 1)).not.toBe(uniformAt(8, 12, 1));
    expect(uniformAt(7, 12, 1)).not.toBe(uniformAt(7, 13, 1));
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

describe("shared-noise sampling is exact and couples the draft to the target", () => {
  // A target and a draft that disagree a lot.
  const p = targetProbs(Float32Array.from([1.5, 0.2, -0.5, 2.2, 0.1, -1, 0.8, 0]), s());
  const q = targetProbs(Float32Array.from([-0.5, 2.0, 1.0, 0.3, -1, 1.2, 0.1, 0.4]), s());
  const N = 30000;
  const crit = chiSquareCritical(p.length - 1);

  function histogram(step: (seed: number) => number): number[] {
    const h = new Array<number>(p.length).fill(0);
    for (let i = 0; i < N; i++) h[step(i)]!++;
    return h;
  }

  it("the sampled token follows p over seeds and over positions (chi-square)", () => {
    expect(
      chiSquare(
        histogram((i) => sampleAt(p, i, 0)),
        [...p],
      ).stat,
    ).toBeLessThan(crit);
    expect(
      chiSquare(
        histogram((i) => sampleAt(p, 1, i)),
        [...p],
      ).stat,
    ).toBeLessThan(crit);
  });

  it("negative control: keeping the draft's sample fails the same test", () => {
    expect(
      chiSquare(
        histogram((i) => sampleAt(q, i, 0)),
        [...p],
      ).stat,
    ).toBeGreaterThan(crit);
  });

  it("the draft names the target's token with at least the coupling's (1 - TV) / (1 + TV), at most 1 - TV", () => {
    let same = 0;
    for (let i = 0; i < N; i++) if (sampleAt(p, i, 0) === sampleAt(q, i, 0)) same++;
    const tv = [...p].reduce((a, pi, j) => a + Math.abs(pi - q[j]!), 0) / 2;
    const rate = same / N;
    expect(rate).toBeGreaterThan((1 - tv) / (1 + tv) - 0.01);
    expect(rate).toBeLessThan(1 - tv + 0.01);
    // identical laws always agree
    for (let i = 0; i < 1000; i++) expect(sampleAt(p, i, 4)).toBe(sampleAt([...p], i, 4));
  });
});
