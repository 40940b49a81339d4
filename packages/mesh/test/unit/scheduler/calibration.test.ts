// Online draft calibration: with no evidence the confidence is the raw probability; it converges to the
// observed hit rate per (rank, probability) cell; a draft that is under-confident everywhere is scaled up
// even in cells it has not seen; the prediction log pairs predictions with verified positions by context.
import { describe, expect, it } from "vitest";
import { DraftCalibration, PredictionLog } from "../../../src/scheduler/calibration.ts";
import { draftTree } from "../../../src/scheduler/draft-tree.ts";
import type { DraftPrediction, Drafter } from "../../../src/ports.ts";

const pred = (ids: number[], probs: number[]): DraftPrediction => ({
  topIds: Int32Array.from(ids),
  topProbs: Float32Array.from(probs),
});

describe("DraftCalibration", () => {
  it("answers the raw probability before any observation", () => {
    const c = new DraftCalibration(2);
    for (const p of [0.03, 0.2, 0.55, 0.9]) expect(c.confidence(0, p)).toBeCloseTo(p, 12);
    expect(c.confidence(2, 0.1)).toBeCloseTo(0.1, 12);
  });

  it("converges to the observed hit rate of a cell", () => {
    const c = new DraftCalibration(2);
    // Top-1 at p = 0.12 is right 70% of the time (an under-confident draft).
    for (let i = 0; i < 1000; i++) c.observe(0, 0.12, i % 10 < 7);
    expect(c.confidence(0, 0.12)).toBeGreaterThan(0.68);
    expect(c.confidence(0, 0.12)).toBeLessThan(0.71);
    // Other ranks are untouched.
    expect(c.confidence(1, 0.12)).toBeCloseTo(0.12, 12);
  });

  it("scales unseen cells of a rank by that rank's overall hit/probability ratio", () => {
    const c = new DraftCalibration(2);
    for (let i = 0; i < 400; i++) c.observe(0, 0.25, i % 2 === 0); // hits 0.5 at p 0.25: ratio ~2
    const unseen = c.confidence(0, 0.45);
    expect(unseen).toBeGreaterThan(0.85);
    expect(unseen).toBeLessThanOrEqual(1);
  });

  it("learns from predictions: a hit for the matching rank, misses for the others", () => {
    const c = new DraftCalibration(1);
    for (let i = 0; i < 50; i++) c.observePrediction(pred([4, 7, 9], [0.3, 0.2, 0.1]), 7);
    expect(c.positions).toBe(50);
    expect(c.confidence(1, 0.2)).toBeGreaterThan(0.9);
    expect(c.confidence(0, 0.3)).toBeLessThan(0.1);
    expect(c.confidence(2, 0.1)).toBeLessThan(0.1);
    const cells = c.cells();
    expect(cells.map((x) => [x.rank, x.observations, x.hits])).toEqual([
      [0, 50, 0],
      [1, 50, 50],
      [2, 50, 0],
    ]);
  });

  it("refuses a non-positive prior weight", () => {
    expect(() => new DraftCalibration(0)).toThrow(RangeError);
  });
});

describe("PredictionLog", () => {
  it("pairs a prediction with the context it was made for, once", () => {
    const log = new PredictionLog();
    const p = pred([1], [0.5]);
    log.record(Int32Array.from([3, 1, 4]), p);
    log.record(Int32Array.from([3, 1, 5]), pred([2], [0.5]));
    expect(log.take([3, 1, 4, 9], 3)).toBe(p);
    expect(log.take([3, 1, 4, 9], 3)).toBeUndefined();
    expect(log.take([3, 1, 6], 3)).toBeUndefined();
    expect(log.size).toBe(1);
    log.prune(4);
    expect(log.size).toBe(0);
  });
});

describe("draftTree with a calibrated confidence", () => {
  const drafter: Drafter = {
    vocabSize: 8,
    predict: (contexts) => Promise.resolve(contexts.map(() => pred([1, 2, 3], [0.12, 0.1, 0.05]))),
    accept: () => Promise.resolve(),
    reset: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  };
  const base = {
    drafter,
    base: [5],
    maxNodes: 4,
    maxBranches: 1,
    maxPos: 100,
    cutoffAccept: 0.3,
    cutoffSplit: 0.5,
    topK: 3,
    shouldYield: () => false,
  };

  it("stops on the raw probability, and drafts on when the calibration trusts the top-1", async () => {
    const raw = await draftTree(base);
    expect(raw.nodes.length).toBe(0);
    const trusted = await draftTree({ ...base, confidence: (r) => (r === 0 ? 0.8 : 0.1) });
    expect(trusted.nodes.map((n) => n.token)).toEqual([1, 1, 1, 1]);
    expect(trusted.nodes.map((n) => n.conf)).toEqual([0.8, 0.8, 0.8, 0.8]);
    expect(trusted.nodes.map((n) => n.prob)).toEqual([0.12, 0.12, 0.12, 0.12].map(Math.fround));
  });
});
