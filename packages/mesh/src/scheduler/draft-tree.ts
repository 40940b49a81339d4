// Drafting one speculative micro-batch: a narrow token tree grown level by level from the Drafter port,
// with the reference's adaptive cutoffs applied to the draft's confidence (a branch stops when its top-1's
// confidence < pAccept + pAdjust; a candidate opens a branch when its confidence > pSplit + pAdjust; the
// confidence is the calibrated P(target agrees), or the raw probability without calibration) and a cap on
// rows and branches. At temperature > 0 the candidates are the draft's race order under the target's
// shared noise (sampling.ts), whose winner names the target's own sampled token whenever the two agree.
// Knows nothing of runs, KV or the pipeline.

import type { Drafter } from "../ports.ts";
import { at } from "./at.ts";
import { draftProbs, raceOrder, type ResolvedSampling } from "./sampling.ts";

/** One drafted token = one row of a speculative run. Nodes are in row order (parents first). */
export interface DraftNode {
  token: number;
  pos: number;
  /** Index of the parent node, or -1 when the node follows the run's assumed prefix directly. */
  parent: number;
  children: number[];
  /** Tree branches (0 = the main line) whose path goes through this node. */
  branches: number[];
  /** The draft's probability of this token after its path (1 for a canonical row). */
  prob: number;
  /** The token's rank among the draft's candidates (0 = its top-1). */
  rank: number;
  /**
   * The draft's confidence that the target picks this token after its path, as the cutoffs saw it: the
   * calibrated estimate (greedy) or the raw probability (sampling, or calibration off). 1 for a canonical row.
   */
  conf: number;
  /**
   * The draft's other candidates at this position (after the same path) that did not open a
   * branch of this tree, most likely first; where the target may take one of them instead.
   */
  alternatives?: DraftAlternative[] | undefined;
}

/** A candidate the draft ranked below the drafted token at its position. */
export interface DraftAlternative {
  token: number;
  prob: number;
  rank: number;
  conf: number;
}

export interface DraftTree {
  nodes: DraftNode[];
  /** Branches that own at least one node (branch b gets sequence id partition.firstSeq + b). */
  branchCount: number;
  /** Drafting stopped early because the caller asked to yield (the tree is incomplete). */
  interrupted: boolean;
}

export interface DraftTreeParams {
  drafter: Drafter;
  /** Every token before the first drafted position (accepted context + assumed speculative prefix). */
  base: readonly number[];
  maxNodes: number;
  maxBranches: number;
  /** The last position a drafted token may take (generation budget, context size). */
  maxPos: number;
  cutoffAccept: number;
  cutoffSplit: number;
  topK: number;
  /** Confidence of the rank-r candidate of raw probability p (default: p itself). */
  confidence?: ((rank: number, prob: number) => number) | undefined;
  /** Present at temperature > 0: candidates in the draft's race order under the shared noise. */
  sampling?: ResolvedSampling | undefined;
  /** Checked between levels: true stops drafting (an outcome is waiting). */
  shouldYield: () => boolean;
  signal?: AbortSignal | undefined;
}

interface Branch {
  path: number[]; // node indices from the first drafted position
  drafting: boolean;
}

export async function draftTree(p: DraftTreeParams): Promise<DraftTree> {
  const firstPos = p.base.length;
  const nodes: DraftNode[] = [];
  const branches: Branch[] = [{ path: [], drafting: true }];
  const maxBranches = p.maxBranches;
  const conf = p.confidence ?? ((_rank: number, prob: number): number => prob);
  let interrupted = false;
  for (let depth = 0; nodes.length < p.maxNodes; depth++) {
    const pos = firstPos + depth;
    const active = branches.filter((b) => b.drafting);
    if (active.length === 0 || pos > p.maxPos) break;
    if (depth > 0 && p.shouldYield()) {
      interrupted = true;
      break;
    }
    const contexts = active.map((b) =>
      Int32Array.from([...p.base, ...b.path.map((i) => at(nodes, i).token)]),
    );
    const wantProbs = p.sampling !== undefined;
    const preds = await p.drafter.predict(contexts, { topK: p.topK, wantProbs }, p.signal);
    active.forEach((b, k) => {
      const pred = preds[k];
      b.drafting = false;
      if (pred === undefined || nodes.length >= p.maxNodes) return;
      const parent = b.path.length === 0 ? -1 : at(b.path, b.path.length - 1);
      const add = (token: number, rank: number, prob: number, c: number): number => {
        nodes.push({ token, pos, parent, children: [], branches: [], prob, rank, conf: c });
        if (parent >= 0) at(nodes, parent).children.push(nodes.length - 1);
        return nodes.length - 1;
      };
      // At T > 0 the candidates are the draft's race order with the target's noise (sampling.ts): its
      // winner names the target's own token whenever their races agree, and the runners-up are the
      // likeliest other picks. What is drafted never changes the target's token, so the same cutoffs,
      // branches and alternatives as greedy apply.
      let topIds: ArrayLike<number> = pred.topIds;
      let topProbs: ArrayLike<number> = pred.topProbs;
      if (p.sampling !== undefined) {
        if (pred.probs === undefined) throw new Error("drafter returned no probabilities");
        const q = draftProbs(pred.probs, p.sampling);
        const order = raceOrder(q, p.sampling.seed, pos, p.topK);
        topIds = order;
        topProbs = order.map((i) => q[i] ?? 0);
      }
      const p0 = topProbs[0] ?? 0;
      const c0 = conf(0, p0);
      if (c0 < p.cutoffAccept) return;
      const prefix = b.path.slice();
      const top = add(topIds[0] ?? 0, 0, p0, c0);
      b.path.push(top);
      b.drafting = true;
      let f = 1;
      for (; f < topIds.length; f++) {
        if (branches.length >= maxBranches || nodes.length >= p.maxNodes) break;
        const pf = topProbs[f] ?? 0;
        const cf = conf(f, pf);
        if (cf <= p.cutoffSplit) break;
        branches.push({ path: [...prefix, add(topIds[f] ?? 0, f, pf, cf)], drafting: true });
      }
      const alternatives: DraftAlternative[] = [];
      for (; f < topIds.length; f++) {
        const pf = topProbs[f] ?? 0;
        alternatives.push({ token: topIds[f] ?? 0, prob: pf, rank: f, conf: conf(f, pf) });
      }
      at(nodes, top).alternatives = alternatives;
    });
  }
  let branchCount = 0;
  branches.forEach((b, i) => {
    if (b.path.length === 0) return;
    branchCount = i + 1;
    for (const n of b.path) at(nodes, n).branches.push(i);
  });
  return { nodes, branchCount, interrupted };
}
