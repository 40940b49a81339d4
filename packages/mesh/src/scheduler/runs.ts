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
  cancelled: boolean;
}

export type RunMatch = { kind: "pending" } | { kind: "useful"; anchor: number } | { kind: "dead" };

function prefixAgrees(run: RunRecord, tokens: readonly number[]): boolean {
  const end = Math.min(tokens.length, run.rootPos);
  for (let q = run.chainStart; q < end; q++) {
    if (run.prefix[q - run.chainStart] !== tokens[q]) return false;
  }
  return true;
}

function roots(run: RunRecord): number[] {
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

/** The main line (branch 0) of a speculative run: its tokens and last position. */
export function mainLineOf(run: RunRecord): { tokens: number[]; endPos: number } {
  const line = run.nodes.filter((nd) => nd.branches.includes(0));
  return { tokens: line.map((nd) => nd.token), endPos: run.rootPos + line.length - 1 };
}

/**
 * Whether a new micro-batch may chain onto `run`'s main line: the run is live, its assumed prefix and main
 * line agree with every accepted token they overlap, and the line reaches past the pending position.
 */
export function continuesChain(run: RunRecord, tokens: readonly number[]): boolean {
  if (run.kind !== "speculative" || run.cancelled || run.partition === null) return false;
  if (!prefixAgrees(run, tokens)) return false;
  const line = mainLineOf(run);
  if (line.endPos < tokens.length) return false;
  for (let q = run.rootPos; q < tokens.length; q++) {
    if (line.tokens[q - run.rootPos] !== tokens[q]) return false;
  }
  return true;
}
