// Drafting one micro-batch: caps on rows and branches, the accept/split cutoffs, yielding between levels,
// and at temperature > 0 the draft's race order under the seed's noise.
import { describe, expect, it } from "vitest";
import type { DraftPrediction, Drafter } from "../../../src/ports.ts";
import { draftTree, type DraftTreeParams } from "../../../src/scheduler/draft-tree.ts";
import { draftProbs, raceOrder, resolveSampling } from "../../../src/scheduler/sampling.ts";

/** A drafter whose next-token candidates depend only on the context's last token: table[last]. */
function scripted(
  table: Record<number, [number, number][]>,
  vocab = 8,
): Drafter & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    vocabSize: vocab,
    calls,
    predict(contexts): Promise<DraftPrediction[]> {
      return Promise.resolve(
        contexts.map((c) => {
          calls.push(Array.from(c));
          const cands = table[c[c.length - 1]!] ?? [[0, 0.01]];
          const probs = new Float32Array(vocab);
          for (const [id, p] of cands) probs[id] = p;
          return {
            topIds: Int32Array.from(cands.map((x) => x[0])),
            topProbs: Float32Array.from(cands.map((x) => x[1])),
            probs,
          };
        }),
      );
    },
    accept: () => Promise.resolve(),
    reset: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  };
}

const params = (drafter: Drafter, o: Partial<DraftTreeParams> = {}): DraftTreeParams => ({
  drafter,
  base: [5, 5],
  maxNodes: 4,
  maxBranches: 3,
  maxPos: 100,
  cutoffAccept: 0.1,
  cutoffSplit: 0.3,
  topK: 8,
  shouldYield: () => false,
  ...o,
});

describe("draftTree", () => {
  // after 5: 1 (0.6) or 2 (0.35); after 1: 3 (0.9); after 2: 4 (0.8); after 3/4: 6 (0.05 -> stop)
  const table: Record<number, [number, number][]> = {
    5: [
      [1, 0.6],
      [2, 0.35],
      [7, 0.05],
    ],
    1: [[3, 0.9]],
    2: [[4, 0.8]],
    3: [[6, 0.05]],
    4: [[6, 0.05]],
  };

  it("grows a tree level by level: splits above pSplit, stops below pAccept, rows in parent-first order", async () => {
    const t = await draftTree(params(scripted(table)));
    expect(t.nodes.map((n) => [n.token, n.pos, n.parent, n.branches])).toEqual([
      [1, 2, -1, [0]],
      [2, 2, -1, [1]],
      [3, 3, 0, [0]],
      [4, 3, 1, [1]],
    ]);
    expect(t.branchCount).toBe(2);
    expect(t.nodes[0]!.prob).toBeCloseTo(0.6, 6);
    expect(t.interrupted).toBe(false);
  });

  it("respects maxNodes, maxBranches and maxPos", async () => {
    expect((await draftTree(params(scripted(table), { maxNodes: 3 }))).nodes).toHaveLength(3);
    const chain = await draftTree(params(scripted(table), { maxBranches: 1 }));
    expect(chain.nodes.map((n) => n.token)).toEqual([1, 3]);
    expect(
      (await draftTree(params(scripted(table), { maxPos: 2 }))).nodes.map((n) => n.pos),
    ).toEqual([2, 2]);
  });

  it("drafts nothing when the first top-1 is under the cutoff", async () => {
    const t = await draftTree(params(scripted(table), { cutoffAccept: 0.7 }));
    expect(t.nodes).toEqual([]);
    expect(t.branchCount).toBe(0);
  });

  it("yields between levels when asked (an outcome is waiting)", async () => {
    const d = scripted(table);
    const t = await draftTree(params(d, { shouldYield: () => true }));
    expect(t.interrupted).toBe(true);
    expect(d.calls).toHaveLength(1);
  });

  it("at temperature > 0 drafts the draft's race order under the seed's noise, branches included", async () => {
    const sampling = resolveSampling({ temperature: 1, seed: 3 });
    const a = await draftTree(params(scripted(table), { sampling }));
    const b = await draftTree(params(scripted(table), { sampling }));
    expect(a.nodes.map((n) => n.token)).toEqual(b.nodes.map((n) => n.token));
    // The first level: the race winner of the draft's filtered q after [5, 5], then its runner-up as a
    // sibling branch when its probability clears the split cutoff.
    const probs = new Float32Array(8);
    for (const [id, p] of table[5]!) probs[id] = p;
    const q = draftProbs(probs, sampling);
    const order = raceOrder(q, 3, 2, 8);
    const first = a.nodes.filter((n) => n.pos === 2);
    expect(first[0]?.token).toBe(order[0]);
    const runnerUp = order[1]!;
    if ((q[runnerUp] ?? 0) > 0.3) expect(first.map((n) => n.token)).toContain(runnerUp);
    // Across seeds the winner follows q: both likely candidates lead sometimes; the unlikely one (0.05,
    // under the accept cutoff) ends the draft when it wins.
    const winners = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const t = await draftTree(
        params(scripted(table), { sampling: resolveSampling({ temperature: 1, seed }) }),
      );
      winners.add(t.nodes[0]?.token ?? -1);
    }
    expect(winners.has(1) && winners.has(2)).toBe(true);
    expect([...winners].every((w) => [1, 2, -1].includes(w))).toBe(true);
  });
});
