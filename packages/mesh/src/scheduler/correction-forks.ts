// Speculating the correction (pipeinfer; greedy, or sampled with the draft's race order): where a live run drafted a token the target may well
// reject, a sibling micro-batch rooted at one of the draft's other candidates at that position (and
// drafted on from there) is ready when the target takes that candidate, so the chain goes on without a
// round trip. This picks the best such fork: over every drafted node past the frontier whose path agrees
// with the accepted tokens, every alternative the draft ranked there that no tree or earlier fork covers,
// scored by the draft's confidence in the path up to the node times its confidence in the alternative
// (the probability that this is the path the target takes). Pure; it launches nothing.

import { at } from "./at.ts";
import { prefixAgrees, roots, type ChainTip, type RunRecord } from "./runs.ts";

/**
 * The most likely correction fork, or null. `launched` holds the keys of forks launched in this
 * generation (a fork is never launched twice).
 */
export function chooseForkTip(
  runs: readonly RunRecord[],
  tokens: readonly number[],
  maxPos: number,
  launched: ReadonlySet<string>,
): ChainTip | null {
  const n = tokens.length;
  let best: ChainTip | null = null;
  for (const run of runs) {
    if (run.kind !== "speculative" || run.cancelled || run.partition === null) continue;
    if (run.draftNodes.length !== run.nodes.length || !prefixAgrees(run, tokens)) continue;
    // The confidence that the prefix past the frontier is right.
    let prefixScore = 1;
    for (let q = Math.max(n, run.chainStart); q < run.rootPos; q++)
      prefixScore *= run.prefixConfs[q - run.chainStart] ?? 0;
    // Walk the tree keeping, per node, its path's agreement and score up to its parent.
    const stack = roots(run).map((v) => ({ v, score: prefixScore, siblings: roots(run) }));
    while (stack.length > 0) {
      const { v, score, siblings } = stack.pop() ?? { v: 0, score: 0, siblings: [] };
      const node = at(run.nodes, v);
      if (node.pos < n) {
        // Verified position: the path goes on only through the accepted token.
        if (node.token === tokens[node.pos])
          for (const c of node.children) stack.push({ v: c, score, siblings: node.children });
        continue;
      }
      if (node.pos > maxPos) continue;
      const taken = new Set(siblings.map((s) => at(run.nodes, s).token));
      for (const alt of node.alternatives ?? []) {
        if (taken.has(alt.token)) continue;
        const key = `${run.runId}:${v}:${alt.token}`;
        if (launched.has(key)) continue;
        const s = score * alt.conf;
        if (best !== null && s <= best.score) continue;
        const path = pathTo(run, v);
        const chained = node.pos > run.chainStart;
        const branch = at(node.branches, 0);
        best = {
          run: chained ? run : null,
          branch,
          firstPos: node.pos,
          chainStart: run.chainStart,
          prefix: [...run.prefix, ...path.map((i) => at(run.nodes, i).token)],
          prefixConfs: [...run.prefixConfs, ...path.map((i) => at(run.nodes, i).conf)],
          chainDepth: node.pos > run.rootPos ? run.chainDepth + 1 : run.chainDepth,
          score: s,
          fork: { ...alt, key },
        };
      }
      for (const c of node.children)
        stack.push({ v: c, score: score * node.conf, siblings: node.children });
    }
  }
  return best;
}

/** The nodes from the root down to v's parent (v excluded). */
function pathTo(run: RunRecord, v: number): number[] {
  const path: number[] = [];
  for (let u = at(run.nodes, v).parent; u >= 0; u = at(run.nodes, u).parent) path.unshift(u);
  return path;
}
