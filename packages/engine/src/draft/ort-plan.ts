// The ORT drafter's plan for the contexts of one predict call, one wave at a time: a segment is a chain
// of trie nodes to run on top of the K/V of the node above it (a KvBlob, or nothing at the root); a wave
// holds the segments whose past is ready now. A node where needed paths split ends its segment and its
// children start segments of the next wave, so a shared prefix is computed once. A context whose K/V is
// cached but whose prediction is not gets a one-token re-run on its own blob's prefix. Pure bookkeeping.

import type { PrefixNode } from "./prefix-cache.ts";
import type { KvBlob } from "./ort-kv.ts";

export type OrtNode = PrefixNode<KvBlob>;

export interface Segment {
  /** The past: the first pastLength positions of this blob (undefined when pastLength is 0). */
  pastBlob: KvBlob | undefined;
  pastLength: number;
  /** The node whose path is the past (the root for pastLength 0); undefined for a re-run. */
  from: OrtNode | undefined;
  /** Nodes whose tokens the segment runs, parents first, at depths pastLength + 1, ... */
  nodes: OrtNode[];
  /** Indices into nodes whose predictions were asked for. */
  outputs: number[];
  /** A re-run of a cached node for its prediction only: its K/V is not kept. */
  recompute: boolean;
}

/**
 * The next wave for the nodes in `ends` that still need a prediction (state and prediction as they are
 * now). Empty when `ends` is empty.
 */
export function planWave(ends: ReadonlySet<OrtNode>): Segment[] {
  const wave: Segment[] = [];
  const needed = new Set<OrtNode>();
  for (const end of ends) {
    if (end.state !== undefined) {
      wave.push({
        pastBlob: end.state,
        pastLength: end.depth - 1,
        from: undefined,
        nodes: [end],
        outputs: [0],
        recompute: true,
      });
      continue;
    }
    for (let n: OrtNode | null = end; n !== null && n.depth > 0 && n.state === undefined;) {
      if (needed.has(n)) break;
      needed.add(n);
      n = n.parent;
    }
  }
  const neededChildren = (n: OrtNode): OrtNode[] =>
    [...n.children.values()].filter((c) => needed.has(c));
  for (const first of needed) {
    const from = first.parent;
    if (from === null || needed.has(from)) continue;
    const nodes = [first];
    for (let next = neededChildren(first); next.length === 1;) {
      const only = next[0];
      if (only === undefined) break;
      nodes.push(only);
      next = neededChildren(only);
    }
    wave.push({
      pastBlob: from.state,
      pastLength: from.depth,
      from,
      nodes,
      outputs: nodes.flatMap((n, i) => (ends.has(n) ? [i] : [])),
      recompute: false,
    });
  }
  return wave;
}

/**
 * Segments that can share one session run: same past length and same token count, at most maxRows per
 * group. Each group keeps the wave's order.
 */
export function groupSegments(
  wave: readonly Segment[],
  batch: boolean,
  maxRows: number,
): Segment[][] {
  if (!batch) return wave.map((s) => [s]);
  const groups = new Map<string, Segment[][]>();
  const out: Segment[][] = [];
  for (const s of wave) {
    const key = `${s.pastLength}:${s.nodes.length}`;
    let list = groups.get(key);
    if (list === undefined) {
      list = [];
      groups.set(key, list);
    }
    const last = list[list.length - 1];
    if (last !== undefined && last.length < maxRows) {
      last.push(s);
    } else {
      const group = [s];
      list.push(group);
      out.push(group);
    }
  }
  return out;
}
