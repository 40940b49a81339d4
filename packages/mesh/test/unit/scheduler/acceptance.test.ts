// acceptFromRun on literal trees: greedy takes the longest path matching the target's argmax plus the
// target's next token (correction or bonus) and names the deepest accepted node; drafts offered by other
// runs count as drafts; truncation keeps the path consistent; at temperature > 0 the accepted tokens follow
// the target's distribution (chi-square over seeds, drafts from a disagreeing q with the same noise) and do
// not depend on what was drafted.
import { describe, expect, it } from "vitest";
import type { StageRowOutput } from "../../../src/ports.ts";
import { acceptFromRun, truncateAcceptance } from "../../../src/scheduler/acceptance.ts";
import type { DraftNode } from "../../../src/scheduler/draft-tree.ts";
import type { RunRecord } from "../../../src/scheduler/runs.ts";
import { sampleAt, targetProbs, type ResolvedSampling } from "../../../src/scheduler/sampling.ts";
import { chiSquare, chiSquareCritical } from "../../support/sim-stats.ts";

type Lit = [token: number, parent: number, branches: number[]];

/** A speculative run whose nodes are drafted rows 0..n-1 from rootPos (positions follow depth). */
function run(rootPos: number, lits: Lit[], runId = 1): RunRecord {
  const nodes: DraftNode[] = [];
  lits.forEach(([token, parent, branches], i) => {
    const pos = parent < 0 ? rootPos : nodes[parent]!.pos + 1;
    nodes.push({
      token,
      pos,
      parent,
      children: [],
      branches,
      prob: 0.5,
      rank: 0,
      conf: 0.5,
    });
    if (parent >= 0) nodes[parent]!.children.push(i);
  });
  return {
    runId,
    kind: "speculative",
    rootPos,
    chainStart: rootPos,
    prefix: [],
    prefixConfs: [],
    nodes,
    rows: nodes.map((_, i) => i),
    draftNodes: nodes.map((_, i) => i),
    branchCount: Math.max(1, ...lits.flatMap((l) => l[2])) + 1,
    partition: { index: 0, firstSeq: 1 },
    chainDepth: 0,
    chainedFrom: null,
    chainedBranch: 0,
    cancelled: false,
  };
}

/** A run with the pending token as a canonical row 0 and a drafted tree below it (synchronous speculation). */
function withCanonicalRoot(pending: number, pos: number, tree: Lit[]): RunRecord {
  const r = run(pos, [
    [pending, -1, []],
    ...tree.map(([t, p, b]): Lit => [t, p < 0 ? 0 : p + 1, b]),
  ]);
  return { ...r, kind: "speculative", draftNodes: r.draftNodes.slice(1) };
}

const greedyOut = (row: number, argmax: number): StageRowOutput => ({
  row,
  argmax,
  prob: 1,
  topIds: Int32Array.from([argmax]),
  topProbs: Float32Array.from([1]),
});

describe("acceptFromRun, greedy", () => {
  // context [7, 7, 7] (positions 0..2); the pending token 7 at 2 is the canonical root.
  // tree at 3..5:  a=10 {0,1} -> b=11 {0} -> c=12 {0}
  //                           -> b'=21 {1}
  const tree: Lit[] = [
    [10, -1, [0, 1]],
    [11, 0, [0]],
    [21, 0, [1]],
    [12, 1, [0]],
  ];
  const r = withCanonicalRoot(7, 2, tree); // nodes: 0=root, 1=a, 2=b, 3=b', 4=c
  const ctx = [7, 7, 7];

  it("accepts the longest matching path and then the target's bonus token", () => {
    const outs = [
      greedyOut(0, 10),
      greedyOut(1, 11),
      greedyOut(2, 12),
      greedyOut(3, 0),
      greedyOut(4, 13),
    ];
    const a = acceptFromRun(r, outs, null, { accepted: ctx, anchor: 0 });
    expect(a.tokens).toEqual([10, 11, 12, 13]);
    expect(a.fromDraft).toEqual([true, true, true, false]);
    expect(a.path).toEqual([1, 2, 4]);
    expect(a.lastDraftNode).toBe(4);
  });

  it("takes the side branch the target picks, and stops at the correction", () => {
    const outs = [
      greedyOut(0, 10),
      greedyOut(1, 21),
      greedyOut(2, 12),
      greedyOut(3, 5),
      greedyOut(4, 13),
    ];
    const a = acceptFromRun(
      r,
      outs,
      { temperature: 0, topK: 0, topP: 1, seed: 1 },
      { accepted: ctx, anchor: 0 },
    );
    expect(a.tokens).toEqual([10, 21, 5]);
    expect(a.fromDraft).toEqual([true, true, false]);
    expect(a.lastDraftNode).toBe(3);
  });

  it("rejects at the root: one correction token, nothing to commit", () => {
    const outs = [
      greedyOut(0, 4),
      greedyOut(1, 11),
      greedyOut(2, 12),
      greedyOut(3, 5),
      greedyOut(4, 13),
    ];
    const a = acceptFromRun(r, outs, null, { accepted: ctx, anchor: 0 });
    expect(a).toEqual({ tokens: [4], fromDraft: [false], path: [], lastDraftNode: -1 });
  });

  it("starts at the anchor (a run partly behind the frontier)", () => {
    const spec = run(3, [
      [10, -1, [0]],
      [11, 0, [0]],
      [12, 1, [0]],
    ]);
    const outs = [greedyOut(0, 99), greedyOut(1, 12), greedyOut(2, 8)];
    // 10 at 3 and 11 at 4 already accepted (another run delivered them): the anchor is the row at the
    // frontier n-1 = 4, node 1; node 0's output is not read.
    const a = acceptFromRun(spec, outs, null, { accepted: [7, 7, 7, 10, 11], anchor: 1 });
    expect(a.tokens).toEqual([12, 8]);
    expect(a.path).toEqual([2]);
  });

  it("counts a token another live run drafted at that position as drafted", () => {
    const first = run(3, [[10, -1, [0]]], 1);
    const chained: RunRecord = { ...run(4, [[11, -1, [0]]], 2), chainStart: 3, prefix: [10] };
    const a = acceptFromRun(first, [greedyOut(0, 11)], null, {
      accepted: [7, 7, 7, 10],
      anchor: 0,
      others: [chained],
    });
    expect(a.tokens).toEqual([11]);
    expect(a.fromDraft).toEqual([true]); // the bonus token was chained's draft
    expect(a.lastDraftNode).toBe(-1); // but not a node of this run
  });

  it("throws when an output row is missing", () => {
    expect(() => acceptFromRun(r, [greedyOut(0, 10)], null, { accepted: ctx, anchor: 0 })).toThrow(
      /no output/,
    );
  });

  it("truncates consistently (the caller stopped at a stop token)", () => {
    const outs = [
      greedyOut(0, 10),
      greedyOut(1, 11),
      greedyOut(2, 12),
      greedyOut(3, 0),
      greedyOut(4, 13),
    ];
    const a = acceptFromRun(r, outs, null, { accepted: ctx, anchor: 0 });
    expect(truncateAcceptance(a, 2)).toEqual({
      tokens: [10, 11],
      fromDraft: [true, true],
      path: [1],
      lastDraftNode: 1,
    });
    expect(truncateAcceptance(a, 1).lastDraftNode).toBe(-1);
    expect(truncateAcceptance(a, 9)).toBe(a);
  });
});

describe("acceptFromRun, sampled", () => {
  const V = 5;
  const logitsAt = (pos: number): Float32Array =>
    Float32Array.from({ length: V }, (_, t) => Math.sin(1.7 * t + 0.9 * pos) * 2);
  // A draft that disagrees with the target: its own logits, flatter and shifted.
  const draftQ = (pos: number, s: ResolvedSampling): Float64Array =>
    targetProbs(
      Float32Array.from({ length: V }, (_, t) => Math.cos(1.1 * t + 0.4 * pos)),
      s,
    );
  const out = (row: number, pos: number): StageRowOutput => ({
    ...greedyOut(row, 0),
    logits: logitsAt(pos),
  });

  for (const s of [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.8, topK: 3, topP: 0.95 },
  ]) {
    it(`keeps the target's distribution over two positions (T=${s.temperature}, top-k=${s.topK}, top-p=${s.topP})`, () => {
      // The target's logits here do not depend on the path (a literal table per position), so the
      // joint law of two accepted tokens is p3 x p4. The drafted chain d3 -> d4 is sampled from q per seed.
      const base = { ...s, seed: 0 };
      const p3 = targetProbs(logitsAt(3), base);
      const p4 = targetProbs(logitsAt(4), base);
      const joint: number[] = [];
      for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) joint.push(p3[a]! * p4[b]!);
      const N = 4000;
      const counts = new Array<number>(V * V).fill(0);
      let keptDrafts = 0;
      let rejections = 0;
      for (let seed = 1; seed <= N; seed++) {
        const sampling = { ...s, seed };
        const q3 = draftQ(3, sampling);
        const q4 = draftQ(4, sampling);
        const d3 = sampleAt(q3, seed, 3);
        const d4 = sampleAt(q4, seed, 4);
        // canonical root 7 at 2, drafts d3 at 3, d4 at 4
        const r = withCanonicalRoot(7, 2, [
          [d3, -1, [0]],
          [d4, 0, [0]],
        ]);
        const a = acceptFromRun(r, [out(0, 3), out(1, 4), out(2, 5)], sampling, {
          accepted: [7, 7, 7],
          anchor: 0,
        });
        expect(a.tokens.length).toBeGreaterThanOrEqual(1);
        expect(a.path.length).toBe(a.tokens.length - 1);
        let second = a.tokens[1];
        if (second === undefined) {
          // rejected at 3: the next token would come from the next canonical run (no draft there)
          second = sampleAt(p4, seed, 4);
        }
        counts[a.tokens[0]! * V + second]!++;
        keptDrafts += a.fromDraft.filter(Boolean).length;
        rejections += a.fromDraft.filter((x) => !x).length;
      }
      const { stat, dof } = chiSquare(counts, joint);
      expect(stat).toBeLessThan(chiSquareCritical(dof));
      expect(keptDrafts).toBeGreaterThan(N / 4); // the acceptance branch really ran
      expect(rejections).toBeGreaterThan(N / 4); // and so did the rejection branch
    });
  }

  it("is a function of (seed, position): the same inputs give the same tokens", () => {
    const s = { temperature: 1, topK: 0, topP: 1, seed: 9 };
    const q = draftQ(3, s);
    const r = run(3, [[sampleAt(q, 9, 3), -1, [0]]], 1);
    const accepted = [1, 2, 3, r.nodes[0]!.token]; // the root's token is accepted: its row gives position 4
    const a = acceptFromRun(r, [out(0, 4)], s, { accepted, anchor: 0 });
    expect(acceptFromRun(r, [out(0, 4)], s, { accepted, anchor: 0 })).toEqual(a);
    expect(a.tokens).toEqual([sampleAt(targetProbs(logitsAt(4), s), 9, 4)]);
    // What was drafted at 4 never changes the token taken there: every draft gives the same first token.
    const t4 = a.tokens[0]!;
    for (let d = 0; d < V; d++) {
      const drafted = run(3, [
        [r.nodes[0]!.token, -1, [0]],
        [d, 0, [0]],
      ]);
      const b = acceptFromRun(drafted, [out(0, 4), out(1, 5)], s, { accepted, anchor: 0 });
      expect(b.tokens[0]).toBe(t4);
      expect(b.fromDraft[0]).toBe(d === t4);
    }
  });

  it("needs full logits at temperature > 0", () => {
    const r = run(3, [[1, -1, [0]]]);
    expect(() =>
      acceptFromRun(
        r,
        [greedyOut(0, 1)],
        { temperature: 1, topK: 0, topP: 1, seed: 1 },
        { accepted: [0, 0, 0, 1], anchor: 0 },
      ),
    ).toThrow(/logits/);
  });
});
