// Speculating the correction: chooseForkTip on literal trees (the likeliest alternative first, never one a
// tree or an earlier fork covers, only past the frontier on the accepted path, chained from the right
// branch); and through the scheduler with speculateCorrections on: greedy output exact on 1 to 4 peers with
// several drafts, forks really launched, runs cancelled mid-shard leave only canonical KV, an abort at
// every point of a generation leaves a cache the conversation continues on exactly, and sampling (forks
// rooted at the draft's race runners-up) keeps the target's distribution.
import { describe, expect, it } from "vitest";
import { requiredSeqIds } from "../../../src/scheduler/config.ts";
import { chooseForkTip } from "../../../src/scheduler/correction-forks.ts";
import type { DraftAlternative, DraftNode } from "../../../src/scheduler/draft-tree.ts";
import type { RunRecord } from "../../../src/scheduler/runs.ts";
import { targetProbs } from "../../../src/scheduler/sampling.ts";
import { createHarness, expectCanonicalOnly, referenceGreedy } from "../../support/sim-harness.ts";
import { chiSquare, chiSquareCritical } from "../../support/sim-stats.ts";
import { ToyModel, ToyReference } from "../../support/toy-model.ts";

type Lit = [
  token: number,
  parent: number,
  branches: number[],
  conf: number,
  alts?: [number, number][],
];

function run(
  runId: number,
  rootPos: number,
  lits: Lit[],
  o: { prefix?: number[]; chainedFrom?: number } = {},
): RunRecord {
  const nodes: DraftNode[] = [];
  lits.forEach(([token, parent, branches, conf, alts], i) => {
    const pos = parent < 0 ? rootPos : nodes[parent]!.pos + 1;
    const alternatives: DraftAlternative[] = (alts ?? []).map(([t, c], k) => ({
      token: t,
      prob: c,
      rank: k + 1,
      conf: c,
    }));
    nodes.push({
      token,
      pos,
      parent,
      children: [],
      branches,
      prob: conf,
      rank: 0,
      conf,
      alternatives,
    });
    if (parent >= 0) nodes[parent]!.children.push(i);
  });
  const prefix = o.prefix ?? [];
  return {
    runId,
    kind: "speculative",
    rootPos,
    chainStart: rootPos - prefix.length,
    prefix,
    prefixConfs: prefix.map(() => 0.5),
    nodes,
    rows: nodes.map((_, i) => i),
    draftNodes: nodes.map((_, i) => i),
    branchCount: Math.max(...lits.flatMap((l) => l[2])) + 1,
    partition: { index: runId, firstSeq: 1 + 3 * runId },
    chainDepth: prefix.length > 0 ? 1 : 0,
    chainedFrom: o.chainedFrom ?? null,
    chainedBranch: 0,
    cancelled: false,
  };
}

describe("chooseForkTip", () => {
  const ctx = [9, 9, 9, 9, 9]; // frontier n = 5
  // a@5 (conf 0.4; alternatives x 0.3, y 0.1) -> b@6 (conf 0.9; alternative z 0.05)
  const R = run(1, 5, [
    [
      10,
      -1,
      [0],
      0.4,
      [
        [20, 0.3],
        [21, 0.1],
      ],
    ],
    [11, 0, [0], 0.9, [[22, 0.05]]],
  ]);

  it("takes the likeliest alternative: the path's confidence times the alternative's", () => {
    const tip = chooseForkTip([R], ctx, 100, new Set());
    expect(tip?.fork).toMatchObject({ token: 20, key: "1:0:20" });
    expect(tip?.score).toBeCloseTo(0.3, 10);
    expect(tip).toMatchObject({ firstPos: 5, chainStart: 5, prefix: [], run: null, chainDepth: 0 });
  });

  it("never repeats a launched fork, and goes on to the next best", () => {
    const tip = chooseForkTip([R], ctx, 100, new Set(["1:0:20"]));
    expect(tip?.fork?.token).toBe(21);
    const deeper = chooseForkTip([R], ctx, 100, new Set(["1:0:20", "1:0:21"]));
    expect(deeper?.fork?.token).toBe(22);
    expect(deeper?.score).toBeCloseTo(0.4 * 0.05, 10);
    // a deeper fork copies its prefix from the run's branch: chained from it
    expect(deeper).toMatchObject({
      firstPos: 6,
      prefix: [10],
      chainStart: 5,
      branch: 0,
      chainDepth: 1,
    });
    expect(deeper?.run?.runId).toBe(1);
  });

  it("skips an alternative the tree already holds as a sibling branch", () => {
    const T = run(2, 5, [
      [10, -1, [0], 0.4, [[20, 0.3]]],
      [20, -1, [1], 0.3],
    ]);
    expect(chooseForkTip([T], ctx, 100, new Set())).toBeNull();
  });

  it("forks only past the frontier, on the accepted path", () => {
    // a@5 accepted: only b's alternative is left
    expect(chooseForkTip([R], [...ctx, 10], 100, new Set())?.fork?.token).toBe(22);
    // 20 accepted at 5: the run is dead there, nothing on its path
    expect(chooseForkTip([R], [...ctx, 20], 100, new Set())).toBeNull();
    // past maxPos: nothing
    expect(chooseForkTip([R], ctx, 4, new Set())).toBeNull();
  });

  it("keeps a chained run's prefix and its confidence in the score", () => {
    const S = run(3, 7, [[30, -1, [0], 0.5, [[31, 0.4]]]], { prefix: [10, 11], chainedFrom: 1 });
    const tip = chooseForkTip([S], ctx, 100, new Set());
    expect(tip).toMatchObject({ firstPos: 7, chainStart: 5, prefix: [10, 11], chainDepth: 1 });
    expect(tip?.run?.runId).toBe(3); // copies [5, 7) from S's own branch id
    expect(tip?.score).toBeCloseTo(0.5 * 0.5 * 0.4, 10);
  });

  it("ignores cancelled, freed and non-speculative runs", () => {
    expect(chooseForkTip([{ ...R, cancelled: true }], ctx, 100, new Set())).toBeNull();
    expect(chooseForkTip([{ ...R, partition: null }], ctx, 100, new Set())).toBeNull();
    expect(chooseForkTip([{ ...R, kind: "canonical" }], ctx, 100, new Set())).toBeNull();
  });
});

const FORKS = { speculation: { speculateCorrections: true } };

describe("correction forks in the scheduler", () => {
  const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];
  const SIM = { hopMs: 6, compute: { baseMs: 3, perExtraRowMs: 0.5 }, stepsPerStage: 2 };

  for (const peers of [1, 2, 3, 4]) {
    for (const draft of ["aligned", "random", "profile"] as const) {
      it(`greedy output is exact on ${peers} peer(s) with the ${draft} draft, forks launched`, async () => {
        const h = createHarness({
          peers,
          mode: "pipeinfer",
          draft,
          agreement: 0.6,
          sim: SIM,
          config: FORKS,
        });
        let forks = 0;
        for (let p = 0; p < 2; p++) {
          const prompt = [...PROMPT, p];
          const { result } = await h.generate({ newTokens: prompt, maxTokens: 40 });
          expect(result.tokens).toEqual(referenceGreedy(h.model, prompt, 40));
          forks += result.metrics.correctionForksLaunched;
          await h.scheduler.reset();
        }
        if (draft !== "random") expect(forks).toBeGreaterThan(0);
      });
    }
  }

  it("stays within maxInFlightRuns and maxPartitions, frees a partition before reuse, O(B) ops per launch", async () => {
    for (const [maxInFlightRuns, maxPartitions] of [
      [2, 8],
      [6, 3],
      [4, 12],
    ] as const) {
      const h = createHarness({
        peers: 3,
        mode: "pipeinfer",
        draft: "profile",
        sim: { ...SIM, hopJitterMs: 2, seed: 3 },
        config: { speculation: { speculateCorrections: true, maxInFlightRuns, maxPartitions } },
      });
      const { result } = await h.generate({ newTokens: PROMPT, maxTokens: 60 });
      expect(result.tokens).toEqual(referenceGreedy(h.model, PROMPT, 60));
      expect(result.metrics.correctionForksLaunched).toBeGreaterThan(0);
      const live = new Set<number>();
      const held = new Set<number>();
      let maxLive = 0;
      let copiesSinceLaunch = 0;
      for (const e of h.sim.log) {
        if (e.type === "launch" && e.run.kind === "speculative") {
          expect(copiesSinceLaunch).toBeLessThanOrEqual(3); // one chain copy per branch id at most
          copiesSinceLaunch = 0;
          live.add(e.run.runId);
          maxLive = Math.max(maxLive, live.size);
          for (const seq of new Set(e.run.seqIds.flat())) {
            if (seq === 0) continue;
            expect(seq).toBeLessThan(requiredSeqIds({ maxPartitions, draftBranches: 3 }));
            expect(held.has(seq)).toBe(false);
            held.add(seq);
          }
        } else if (e.type === "launch") copiesSinceLaunch = 0;
        else if (e.type === "cancel") e.runIds.forEach((id) => live.delete(id));
        else if (e.type === "outcome") live.delete(e.runId);
        else if (e.type === "kv" && e.op.op === "seq_rm" && e.op.seq > 0) held.delete(e.op.seq);
        else if (e.type === "kv" && e.op.op === "seq_cp" && e.op.dst > 0) copiesSinceLaunch++;
      }
      expect(maxLive).toBeLessThanOrEqual(maxInFlightRuns);
    }
  });

  it("is off by default", async () => {
    const h = createHarness({
      peers: 2,
      mode: "pipeinfer",
      draft: "aligned",
      agreement: 0.6,
      sim: SIM,
    });
    const { result } = await h.generate({ newTokens: PROMPT, maxTokens: 30 });
    expect(result.metrics.correctionForksLaunched).toBe(0);
  });

  it("runs cancelled mid-shard and skipped leave only canonical KV; the conversation continues exactly", async () => {
    const h = createHarness({
      peers: 3,
      mode: "pipeinfer",
      draft: "aligned",
      agreement: 0.6,
      config: FORKS,
      sim: {
        hopMs: 3,
        compute: { baseMs: 20, perExtraRowMs: 4 },
        stepsPerStage: 8,
        cancelDelayMs: 1,
        seed: 4,
      },
    });
    const first = await h.generate({ newTokens: PROMPT, maxTokens: 40 });
    expect(first.result.tokens).toEqual(referenceGreedy(h.model, PROMPT, 40));
    expect(first.result.metrics.correctionForksLaunched).toBeGreaterThan(0);
    expect(h.sim.stats.abortedMidRun).toBeGreaterThan(0);
    expectCanonicalOnly(h, PROMPT.length + 40 - 1);
    const previous = [...PROMPT, ...first.result.tokens];
    const second = await h.generate({ previousTokens: previous, newTokens: [5, 5], maxTokens: 20 });
    expect(second.result.tokens).toEqual(referenceGreedy(h.model, [...previous, 5, 5], 20));
  });

  it("an abort at any point leaves a cache the next turn continues on exactly", async () => {
    // Sweep the abort time over the whole generation so it lands with forks and their chains at every
    // stage of their life: drafting, in flight, verified, cancelled.
    let forks = 0;
    for (let t = 5; t <= 400; t += 15) {
      const h = createHarness({
        peers: 2,
        mode: "pipeinfer",
        draft: "aligned",
        agreement: 0.6,
        sim: SIM,
        config: FORKS,
      });
      const abort = new AbortController();
      h.clock.after(t, () => abort.abort());
      const first = await h.generate({ newTokens: PROMPT, maxTokens: 60, signal: abort.signal });
      forks += first.result.metrics.correctionForksLaunched;
      const got = first.result.tokens;
      expect(got).toEqual(referenceGreedy(h.model, PROMPT, 60).slice(0, got.length));
      const kept = h.scheduler.contextTokens.length;
      expectCanonicalOnly(h, kept);
      const previous = [...PROMPT, ...got];
      const next = await h.generate({ previousTokens: previous, newTokens: [7], maxTokens: 12 });
      expect(next.result.tokens).toEqual(referenceGreedy(h.model, [...previous, 7], 12));
    }
    expect(forks).toBeGreaterThan(0);
  });
});

describe("correction forks and sampling", () => {
  const PROMPT = [1, 4, 2];
  const MODEL = { vocabSize: 6, layers: 2, logitScale: 4, logitPower: 1.5 };
  const SIM = { hopMs: 1, compute: { baseMs: 2, perExtraRowMs: 0.2 } };

  it("at T > 0 forks launch and the first two tokens still follow the target", async () => {
    const s = { temperature: 1, topK: 0, topP: 1, seed: 0 };
    const ref = new ToyReference(new ToyModel(MODEL));
    const V = MODEL.vocabSize;
    const p1 = targetProbs(ref.logitsAfter(PROMPT), s);
    const joint: number[] = [];
    for (let a = 0; a < V; a++) {
      const p2 = targetProbs(ref.logitsAfter([...PROMPT, a]), s);
      for (let b = 0; b < V; b++) joint.push(p1[a]! * p2[b]!);
    }
    const N = 600;
    const counts = new Array<number>(V * V).fill(0);
    let forks = 0;
    for (let seed = 1; seed <= N; seed++) {
      const h = createHarness({
        peers: 1,
        mode: "pipeinfer",
        draft: "random",
        model: MODEL,
        sim: SIM,
        config: FORKS,
      });
      const { result } = await h.generate({
        newTokens: PROMPT,
        maxTokens: 2,
        sampling: { ...s, seed },
      });
      counts[result.tokens[0]! * V + result.tokens[1]!]!++;
      forks += result.metrics.correctionForksLaunched;
    }
    expect(forks).toBeGreaterThan(0);
    const { stat, dof } = chiSquare(counts, joint);
    expect(stat).toBeLessThan(chiSquareCritical(dof));
  });

  it("a fixed seed reproduces the output with forks enabled", async () => {
    const gen = async (): Promise<number[]> => {
      const h = createHarness({
        peers: 2,
        mode: "pipeinfer",
        draft: "aligned",
        sim: SIM,
        config: FORKS,
      });
      return (
        await h.generate({
          newTokens: PROMPT,
          maxTokens: 30,
          sampling: { temperature: 0.9, seed: 5 },
        })
      ).result.tokens;
    };
    expect(await gen()).toEqual(await gen());
  });
});
