// The head's record of an in-flight run and the pure checks on it against the accepted tokens: is it still
// useful (its assumed path agrees and it has a row at the frontier), pending, or dead (cancel it); which
// drafted tokens it offers at the frontier; is its main line a valid chain to continue from.

import type { RunSpec } from "../ports.ts";
import type { DraftNode } from "./draft-tree.ts";
import type { Partition } from "./kv-protocol.ts";
import { at } from "./at.ts";

export interface RunRecord {
  readonly runId: number;
  readonly kind: RunSpec["kind"];
  /**
   * Position of the root nodes (parent -1): a speculative run's first drafted row, a canonical run's
   * token, the last prompt row of the final prefill chunk.
   */
  readonly rootPos: number;
  /** Assumed speculative tokens at [chainStart, rootPos) from earlier runs of the chain (may be empty). */
  readonly chainStart: number;
  readonly prefix: readonly number[];
  /** The draft's confidence in each prefix token (DraftNode.conf; for ranking where to speculate next). */
  readonly prefixConfs: readonly number[];
  /** Rows that return outputs, as a tree (parents first); node i is batch row rows[i]. */
  readonly nodes: readonly DraftNode[];
  readonly rows: readonly number[];
  /** Nodes that are drafted tokens (a canonical root or prefill row is not). */
  readonly draftNodes: readonly number[];
  /** Speculative runs: tree branches and their partition (null once freed). */
  readonly branchCount: number;
  partition: Partition | null;
  /** Speculative runs: earlier runs of the same chain still in flight at launch. */
  readonly chainDepth: number;
  /**
   * The run whose main line this one copied at launch (null: it follows accepted context). That run must
   * not be cancelled while this one is live: its cells are this run's assumed prefix.
   */
  readonly chainedFrom: number | null;
  /** The branch of `chainedFrom` whose path this run continues. */
  readonly chainedBranch: number;
  /**
   * A correction fork (its root is another candidate at a drafted node's position, see
   * correction-forks.ts): which node and token, as `runId:node:token` of the run drafted there. A fork
   * does not count as continuing `chainedFrom`'s branch.
   */
  readonly forkKey?: string | undefined;
  cancelled: boolean;
}

export type RunMatch = { kind: "pending" } | { kind: "useful"; anchor: number } | { kind: "dead" };

/** The run's assumed prefix agrees with the accepted tokens as far as both go. */
export function prefixAgrees(run: RunRecord, tokens: readonly number[]): boolean {
  const end = Math.min(tokens.length, run.rootPos);
  for (let q = run.chainStart; q < end; q++) {
    if (run.prefix[q - run.chainStart] !== tokens[q]) return false;
  }
  return true;
}

/** The run's root nodes (parent -1). */
export function roots(run: RunRecord): number[] {
  return run.nodes.flatMap((nd, i) => (nd.parent < 0 ? [i] : []));
}

/**
 * `useful`: the run's path agrees with the accepted tokens and it has a row at the frontier position
 * n-1 (`anchor`), so its outputs give the token at n. `pending`: it agrees so far but the frontier has
 * not reached its first row. `dead`: it disagrees, or lies wholly behind the frontier.
 */
export function matchRun(run: RunRecord, tokens: readonly number[]): RunMatch {
  const n = tokens.length;
  if (run.nodes.length === 0 || !prefixAgrees(run, tokens)) return { kind: "dead" };
  if (n - 1 < run.rootPos) return { kind: "pending" };
  let level = roots(run);
  for (let q = run.rootPos; q <= n - 1; q++) {
    const v = level.find((i) => at(run.nodes, i).token === tokens[q]);
    if (v === undefined) return { kind: "dead" };
    if (q === n - 1) return { kind: "useful", anchor: v };
    level = at(run.nodes, v).children;
  }
  return { kind: "dead" };
}

/** Drafted nodes of `run` at position n = tokens.length whose path agrees with the accepted tokens. */
export function draftsAt(run: RunRecord, tokens: readonly number[]): number[] {
  if (run.kind !== "speculative" || run.cancelled) return [];
  const n = tokens.length;
  if (n < run.rootPos || !prefixAgrees(run, tokens)) return [];
  const found =
    n === run.rootPos
      ? roots(run)
      : ((m) => (m.kind === "useful" ? at(run.nodes, m.anchor).children : []))(
          matchRun(run, tokens),
        );
  return found.filter((i) => run.draftNodes.includes(i));
}

/** Nodes on the accepted path (their token is the accepted token at their position). */
export function acceptedNodes(run: RunRecord, tokens: readonly number[]): number[] {
  if (!prefixAgrees(run, tokens)) return [];
  const out: number[] = [];
  let level = roots(run);
  for (let q = run.rootPos; q < tokens.length; q++) {
    const v = level.find((i) => at(run.nodes, i).token === tokens[q]);
    if (v === undefined) break;
    out.push(v);
    level = at(run.nodes, v).children;
  }
  return out;
}

/**
 * The in-flight speculative runs to cancel: dead ones (they disagree with the accepted tokens or lie wholly
 * behind the frontier), except a run some live run was chained from, because its cells are that run's
 * assumed prefix (a skipped run never writes them). Walks newest first, so whether a run is needed is known
 * before its predecessor is considered. Runs with a canonical row are never cancelled.
 */
export function runsToCancel(runs: readonly RunRecord[], tokens: readonly number[]): RunRecord[] {
  const needed = new Set<number>();
  const dead: RunRecord[] = [];
  for (let i = runs.length - 1; i >= 0; i--) {
    const r = at(runs, i);
    if (r.kind !== "speculative" || r.cancelled) continue;
    const cancellable = r.draftNodes.length === r.nodes.length && !needed.has(r.runId);
    if (cancellable && matchRun(r, tokens).kind === "dead") dead.push(r);
    else if (r.chainedFrom !== null) needed.add(r.chainedFrom);
  }
  return dead;
}

/** One branch of a speculative run's tree as a path: its tokens and confidences from rootPos on. */
export function branchLine(run: RunRecord, branch: number): { tokens: number[]; confs: number[] } {
  const line = run.nodes.filter((nd) => nd.branches.includes(branch));
  return { tokens: line.map((nd) => nd.token), confs: line.map((nd) => nd.conf) };
}

/** Where the next micro-batch goes: after `run`'s branch (or after the accepted tokens when run is null). */
export interface ChainTip {
  run: RunRecord | null;
  branch: number;
  /** Position of the next micro-batch's first drafted token. */
  firstPos: number;
  chainStart: number;
  prefix: number[];
  prefixConfs: number[];
  chainDepth: number;
  /** The draft's estimate that every assumed token past the frontier is accepted. */
  score: number;
  /** A correction fork: the token its first row carries (not drafted after the prefix), and its key. */
  fork?: { token: number; prob: number; rank: number; conf: number; key: string } | undefined;
}

/**
 * Best-first choice of where to speculate next. Candidates are the frontier (when no live run covers the
 * next position) and every branch of every live speculative run that agrees with the accepted tokens,
 * reaches past the pending position, ends before maxPos and has no live run chained from it yet. The score
 * is the product of the draft's confidences in the path's unaccepted tokens, so the most likely
 * continuation is extended first: the deepest valid chain when the draft is confident, an alternative
 * branch when that is likelier. Ties go to the newest run.
 */
export function chooseTip(
  runs: readonly RunRecord[],
  tokens: readonly number[],
  maxPos: number,
): ChainTip | null {
  const n = tokens.length;
  const live = runs.filter((r) => r.kind === "speculative" && !r.cancelled && r.partition !== null);
  const expanded = new Set(
    live.flatMap((r) =>
      r.chainedFrom === null || r.forkKey !== undefined
        ? []
        : [`${r.chainedFrom}:${r.chainedBranch}`],
    ),
  );
  let best: ChainTip | null = null;
  let covered = false;
  for (const run of live) {
    if (run.draftNodes.length !== run.nodes.length || !prefixAgrees(run, tokens)) continue;
    if (run.rootPos > n) covered = true;
    for (let b = 0; b < run.branchCount; b++) {
      const line = branchLine(run, b);
      const endPos = run.rootPos + line.tokens.length - 1;
      if (endPos < n) continue;
      const agrees = tokens.slice(run.rootPos, n).every((t, i) => line.tokens[i] === t);
      if (!agrees) continue;
      covered = true;
      if (expanded.has(`${run.runId}:${b}`) || endPos + 1 > maxPos) continue;
      const prefix = [...run.prefix, ...line.tokens];
      const prefixConfs = [...run.prefixConfs, ...line.confs];
      let score = 1;
      for (let q = Math.max(n, run.chainStart); q <= endPos; q++) {
        score *= prefixConfs[q - run.chainStart] ?? 0;
      }
      if (best === null || score >= best.score) {
        best = {
          run,
          branch: b,
          firstPos: endPos + 1,
          chainStart: run.chainStart,
          prefix,
          prefixConfs,
          chainDepth: run.chainDepth + 1,
          score,
        };
      }
    }
  }
  if (covered || n > maxPos) return best;
  return {
    run: null,
    branch: 0,
    firstPos: n,
    chainStart: n,
    prefix: [],
    prefixConfs: [],
    chainDepth: 0,
    score: 1,
  };
}
