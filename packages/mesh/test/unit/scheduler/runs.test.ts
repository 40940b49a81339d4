// Pure run-table checks on hand-built runs: usefulness at the frontier, drafts offered, accepted nodes,
// where to chain next (best-first), and which runs may be cancelled.
import { describe, expect, it } from "vitest";
import type { DraftNode } from "../../../src/scheduler/draft-tree.ts";
import {
  acceptedNodes,
  chooseTip,
  draftsAt,
  matchRun,
  runsToCancel,
  type RunRecord,
} from "../../../src/scheduler/runs.ts";

/** nodes: [token, parentIndex, branches, prob?]; positions follow depth from rootPos. */
function spec(o: {
  runId: number;
  rootPos: number;
  nodes: [number, number, number[], number?][];
  chainStart?: number;
  prefix?: number[];
  chainedFrom?: number | null;
  chainedBranch?: number;
}): RunRecord {
  const nodes: DraftNode[] = [];
  for (const [token, parent, branches, prob] of o.nodes) {
    const pos = parent < 0 ? o.rootPos : nodes[parent]!.pos + 1;
    const p = prob ?? 0.5;
    nodes.push({ token, pos, parent, children: [], branches, prob: p, rank: 0, conf: p });
    if (parent >= 0) nodes[parent]!.children.push(nodes.length - 1);
  }
  const prefix = o.prefix ?? [];
  return {
    runId: o.runId,
    kind: "speculative",
    rootPos: o.rootPos,
    chainStart: o.chainStart ?? o.rootPos - prefix.length,
    prefix,
    prefixConfs: prefix.map(() => 0.9),
    nodes,
    rows: nodes.map((_, i) => i),
    draftNodes: nodes.map((_, i) => i),
    branchCount: Math.max(...o.nodes.flatMap((n) => n[2])) + 1,
    partition: { index: o.runId, firstSeq: 1 + 3 * o.runId },
    chainDepth: prefix.length > 0 ? 1 : 0,
    chainedFrom: o.chainedFrom ?? null,
    chainedBranch: o.chainedBranch ?? 0,
    cancelled: false,
  };
}

// accepted: positions 0..4 = [9, 9, 9, 9, 9]; a tree at 5: a(5)->b(6), a->c(6) (branches 0 and 1)
const tokens5 = [9, 9, 9, 9, 9];
const tree = spec({
  runId: 1,
  rootPos: 5,
  nodes: [
    [1, -1, [0, 1]],
    [2, 0, [0]],
    [3, 0, [1]],
  ],
});

describe("matchRun / draftsAt / acceptedNodes", () => {
  it("pending until the frontier reaches the run's first row, then useful at the frontier row", () => {
    expect(matchRun(tree, tokens5).kind).toBe("pending");
    expect(draftsAt(tree, tokens5)).toEqual([0]);
    expect(matchRun(tree, [...tokens5, 1])).toEqual({ kind: "useful", anchor: 0 });
    expect(draftsAt(tree, [...tokens5, 1])).toEqual([1, 2]);
    expect(matchRun(tree, [...tokens5, 1, 3])).toEqual({ kind: "useful", anchor: 2 });
    expect(acceptedNodes(tree, [...tokens5, 1, 3, 7])).toEqual([0, 2]);
  });

  it("dead when it disagrees or lies wholly behind the frontier", () => {
    expect(matchRun(tree, [...tokens5, 4]).kind).toBe("dead");
    expect(matchRun(tree, [...tokens5, 1, 2, 8]).kind).toBe("dead"); // behind: no row at position 7
    const chained = spec({ runId: 2, rootPos: 7, prefix: [1, 2], nodes: [[5, -1, [0]]] });
    expect(matchRun(chained, [...tokens5, 1]).kind).toBe("pending");
    expect(matchRun(chained, [...tokens5, 1, 3]).kind).toBe("dead"); // its assumed prefix lost
  });
});

describe("chooseTip (best-first)", () => {
  it("starts at the frontier when nothing covers the next position", () => {
    const tip = chooseTip([], tokens5, 100);
    expect(tip).toMatchObject({ run: null, firstPos: 5, chainDepth: 0, score: 1 });
    expect(chooseTip([], tokens5, 4)).toBeNull();
  });

  it("extends the likelier unexpanded branch, and skips expanded or disagreeing ones", () => {
    const t = spec({
      runId: 1,
      rootPos: 5,
      nodes: [
        [1, -1, [0, 1], 0.9],
        [2, 0, [0], 0.8],
        [3, 0, [1], 0.1],
      ],
    });
    const tip = chooseTip([t], tokens5, 100)!;
    expect(tip).toMatchObject({ branch: 0, firstPos: 7, prefix: [1, 2], chainStart: 5 });
    expect(tip.score).toBeCloseTo(0.72, 10);
    const child = spec({
      runId: 2,
      rootPos: 7,
      prefix: [1, 2],
      chainedFrom: 1,
      chainedBranch: 0,
      nodes: [[4, -1, [0]]],
    });
    const next = chooseTip([t, child], tokens5, 100)!;
    // branch 1 of run 1 scores 0.09; run 2's tip scores 0.72 * 0.5
    expect(next).toMatchObject({ run: child, firstPos: 8, prefix: [1, 2, 4] });
    // when the expanded line is unlikely, the alternative branch is extended instead
    const weak = spec({
      runId: 3,
      rootPos: 7,
      prefix: [1, 2],
      chainedFrom: 1,
      nodes: [[4, -1, [0], 0.05]],
    });
    expect(chooseTip([t, weak], [...tokens5, 1], 100)).toMatchObject({
      run: t,
      branch: 1,
      firstPos: 7,
      prefix: [1, 3],
    });
    // once the accepted tokens end branch 1, nothing covers position 7: back to the frontier
    expect(chooseTip([t, child], [...tokens5, 1, 3], 100)).toMatchObject({
      run: null,
      firstPos: 7,
    });
  });
});

describe("runsToCancel", () => {
  it("cancels runs that disagree with the accepted tokens, with their chained successors", () => {
    const a = spec({ runId: 1, rootPos: 5, nodes: [[1, -1, [0]]] });
    const b = spec({ runId: 2, rootPos: 6, prefix: [1], chainedFrom: 1, nodes: [[2, -1, [0]]] });
    expect(runsToCancel([a, b], [...tokens5, 7]).map((r) => r.runId)).toEqual([2, 1]);
  });

  it("keeps a run behind the frontier while a live run chained from it still needs its cells", () => {
    // run 1 covers position 5 only; run 2 was chained from it at 6. Accepted tokens reach 6 from elsewhere:
    // run 1 is behind (no row at 6) but run 2 (still useful) assumes run 1's cell at 5.
    const a = spec({ runId: 1, rootPos: 5, nodes: [[1, -1, [0]]] });
    const b = spec({ runId: 2, rootPos: 6, prefix: [1], chainedFrom: 1, nodes: [[2, -1, [0]]] });
    expect(matchRun(a, [...tokens5, 1, 2]).kind).toBe("dead");
    expect(matchRun(b, [...tokens5, 1, 2]).kind).toBe("useful");
    expect(runsToCancel([a, b], [...tokens5, 1, 2])).toEqual([]);
    // without the dependent (or with it cancelled) the behind run goes
    b.cancelled = true;
    expect(runsToCancel([a, b], [...tokens5, 1, 2]).map((r) => r.runId)).toEqual([1]);
  });
});
