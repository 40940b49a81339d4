// How the engine drafter maps its prefix trie onto one shard's KV cache, and the plan of one predict call:
// which rows to run (new tokens, parents first, and re-runs of cached tokens whose prediction is missing),
// the sequence ids each row carries and the seq_cp re-tags to issue first. Pure bookkeeping over the trie;
// the drafter executes plans (engine-drafter.ts). Not generic: an ONNX drafter keeps tensors, not seq ids.
//
// A node's state says where its token's KV cell is:
//   undefined     no cell (not computed)
//   KV_CANONICAL  the cell is in the canonical sequence 0 (the accepted prefix, visible to every row)
//   KV_SHARED     the cell is tagged with the sequence ids of the owner leaves below the node
//   seq > 0       a computed leaf that owns sequence `seq`: seq tags every non-canonical cell of its path
// Computed nodes are closed under ancestors; every computed leaf off the canonical path owns a sequence.

import { EngineError } from "../errors.ts";
import type { PrefixNode } from "./prefix-cache.ts";

export type KvNode = PrefixNode<number>;

export const KV_CANONICAL = 0;
export const KV_SHARED = -1;

/** Half-open copy of `src`'s cells at positions [0, p1) into `dst`: seq_cp(src, dst, 0, p1). */
export interface SeqCopy {
  src: number;
  dst: number;
  p1: number;
}

export interface PlanRow {
  node: KvNode;
  seqIds: number[];
  /** The node already has a cell; this row re-runs its token for the prediction only. */
  recompute: boolean;
  /** The row's prediction is wanted. */
  output: boolean;
}

export interface KvPlan {
  /** Re-runs first, then new nodes, parents before children. */
  rows: PlanRow[];
  /** Issued before the run. */
  copies: SeqCopy[];
  /** Ids taken from the free list (owners and temporaries). */
  fresh: number[];
  /** Fresh ids of re-run rows, removed again after the run. */
  temporaries: number[];
  /** New leaves and the sequence each owns once the run succeeded. */
  owners: [KvNode, number][];
  /** Computed leaves whose sequence a new leaf below them takes over. */
  inherited: [KvNode, number][];
  /** Ids the free list could not provide; the plan is only usable when this is 0. */
  missingSeqs: number;
}

export const isComputed = (n: KvNode): boolean => n.parent === null || n.state !== undefined;
export const isCanonical = (n: KvNode): boolean => n.parent === null || n.state === KV_CANONICAL;

/** A sequence whose cells cover `node`'s path: its own, or that of any owner leaf below it. */
export function ownerSeqBelow(node: KvNode): number {
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop();
    if (n === undefined) break;
    if (n.state !== undefined && n.state > 0) return n.state;
    for (const c of n.children.values()) if (c.state !== undefined) stack.push(c);
  }
  throw new EngineError("ERR_INTERNAL", `computed node at depth ${node.depth} has no owner below`);
}

/**
 * Plans the rows that give a prediction for each of `ends` (distinct nodes without a usable cached
 * prediction), taking sequence ids from `freeSeqs` in order.
 */
export function planRun(ends: readonly KvNode[], freeSeqs: readonly number[]): KvPlan {
  const plan: KvPlan = {
    rows: [],
    copies: [],
    fresh: [],
    temporaries: [],
    owners: [],
    inherited: [],
    missingSeqs: 0,
  };
  const take = (): number => {
    const seq = freeSeqs[plan.fresh.length];
    if (seq === undefined) {
      plan.missingSeqs++;
      return -1;
    }
    plan.fresh.push(seq);
    return seq;
  };
  const wanted = new Set(ends);

  // Re-runs: the node has a cell; a temporary sequence sees its path up to the parent.
  for (const n of ends) {
    if (!isComputed(n)) continue;
    if (n.parent === null) throw new EngineError("ERR_INTERNAL", "the empty context has no row");
    const tmp = take();
    plan.temporaries.push(tmp);
    if (!isCanonical(n.parent) && tmp > 0)
      plan.copies.push({ src: ownerSeqBelow(n.parent), dst: tmp, p1: n.depth - 1 });
    plan.rows.push({ node: n, seqIds: [tmp], recompute: true, output: true });
  }

  // New nodes: every uncomputed node on the ends' paths, once.
  const fresh = new Set<KvNode>();
  for (const end of ends) {
    for (let n: KvNode | null = end; n !== null && !isComputed(n) && !fresh.has(n); n = n.parent) {
      fresh.add(n);
    }
  }
  if (fresh.size === 0) return plan;
  const nodes = [...fresh].sort((a, b) => a.depth - b.depth);
  const kids = new Map<KvNode, KvNode[]>();
  for (const n of nodes) {
    if (n.parent === null || !fresh.has(n.parent)) continue;
    const list = kids.get(n.parent) ?? [];
    list.push(n);
    kids.set(n.parent, list);
  }

  // Each new leaf owns a sequence: the first leaf under a computed leaf takes over its sequence (no copy);
  // the others get a fresh one, re-tagged with the attachment's path unless that path is canonical.
  const seqOf = new Map<KvNode, number>();
  const inheritedFrom = new Set<KvNode>();
  for (const rootNode of nodes) {
    const x = rootNode.parent;
    if (x === null || fresh.has(x)) continue;
    for (const leaf of leavesUnder(rootNode, kids)) {
      let seq: number;
      if (x.state !== undefined && x.state > 0 && !inheritedFrom.has(x)) {
        seq = x.state;
        inheritedFrom.add(x);
        plan.inherited.push([x, seq]);
      } else {
        seq = take();
        if (!isCanonical(x) && seq > 0)
          plan.copies.push({ src: ownerSeqBelow(x), dst: seq, p1: x.depth });
      }
      seqOf.set(leaf, seq);
      plan.owners.push([leaf, seq]);
    }
  }

  // A new node's row carries the sequences of the new leaves below it.
  const idsOf = new Map<KvNode, number[]>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n === undefined) continue;
    const below = kids.get(n);
    const ids =
      below === undefined ? [seqOf.get(n) ?? -1] : below.flatMap((c) => idsOf.get(c) ?? []);
    idsOf.set(n, ids);
  }
  for (const n of nodes) {
    plan.rows.push({
      node: n,
      seqIds: idsOf.get(n) ?? [],
      recompute: false,
      output: wanted.has(n),
    });
  }
  return plan;
}

function leavesUnder(node: KvNode, kids: ReadonlyMap<KvNode, KvNode[]>): KvNode[] {
  const out: KvNode[] = [];
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop();
    if (n === undefined) break;
    const below = kids.get(n);
    if (below === undefined) out.push(n);
    else for (let i = below.length - 1; i >= 0; i--) stack.push(below[i] ?? n);
  }
  return out;
}

/**
 * The nodes an eviction of owner `leaf` frees: up from the leaf while the parent is neither canonical,
 * nor used by the current request (`tick`), nor shared with another branch. When the parent is a needed
 * node with no other branch, the eviction trims below it and the parent takes over the sequence.
 */
export function evictionSpan(
  leaf: KvNode,
  tick: number,
): { leaf: KvNode; top: KvNode; trim: boolean } {
  let top = leaf;
  for (;;) {
    const p = top.parent;
    if (p === null || isCanonical(p) || p.usedTick === tick || computedChildren(p) > 1) break;
    top = p;
  }
  const p = top.parent;
  return { leaf, top, trim: p !== null && !isCanonical(p) && computedChildren(p) === 1 };
}

export function computedChildren(n: KvNode): number {
  let count = 0;
  for (const c of n.children.values()) if (c.state !== undefined) count++;
  return count;
}
