// Acceptance as one pure function: given a verified run's target outputs, which tokens are accepted.
// Greedy: walk the drafted tree from the anchor row along the target's argmax (the longest matching path),
// then the target's token after it (the correction, or the bonus when the path reaches a leaf). Sampling:
// the same walk, the target's token at each position being its shared-noise sample (sampling.ts sampleAt:
// a function of the seed, the position and the target's filtered distribution only, so exactly the
// target's law whatever was drafted, and the same token whichever run verifies the position); a drafted
// token is kept when it is that token. It does not stop at stop tokens or budgets (the caller truncates), touches no KV,
// metrics or pipeline, and mutates nothing.

import { MeshError } from "../errors.ts";
import type { StageRowOutput } from "../ports.ts";
import { at } from "./at.ts";
import { draftsAt, type RunRecord } from "./runs.ts";
import { sampleAt, targetProbs, type ResolvedSampling } from "./sampling.ts";

/** Where the verification starts: the accepted tokens, the run's row at the frontier, other live runs. */
export interface AcceptanceFrontier {
  /** Accepted tokens so far (context and generated); the run's anchor row is at position length - 1. */
  accepted: readonly number[];
  /** The run's node at position accepted.length - 1 (matchRun's anchor). */
  anchor: number;
  /**
   * Other in-flight runs: a drafted token they offer at a position the walk reaches counts as a draft
   * there (for fromDraft, and at T > 0 as the proposal tested when the run itself has none).
   */
  others?: readonly RunRecord[] | undefined;
}

export interface Acceptance {
  /** Accepted tokens in order; the last is the correction or bonus token. */
  tokens: number[];
  /** Per token: some run had drafted it at its position. */
  fromDraft: boolean[];
  /** The run's drafted nodes whose tokens were accepted, in order (tokens[i] = node path[i], i < path.length). */
  path: number[];
  /** The deepest accepted drafted node of the run (its branch is the one to commit), or -1. */
  lastDraftNode: number;
}

interface Proposal {
  token: number;
}

/** Greedy when sampling is absent or its temperature is 0. */
export function acceptFromRun(
  run: RunRecord,
  outputs: readonly StageRowOutput[],
  sampling: ResolvedSampling | null | undefined,
  frontier: AcceptanceFrontier,
): Acceptance {
  const byRow = new Map(outputs.map((o) => [o.row, o]));
  const greedy = sampling == null || sampling.temperature === 0;
  const accepted = [...frontier.accepted];
  const tokens: number[] = [];
  const fromDraft: boolean[] = [];
  const path: number[] = [];
  let v = frontier.anchor;
  for (;;) {
    const out = byRow.get(at(run.rows, v));
    if (out === undefined)
      throw new MeshError("ERR_INTERNAL", `run ${run.runId}: no output for row ${run.rows[v]}`);
    const here = at(run.nodes, v).children.filter((c) => run.draftNodes.includes(c));
    const proposals: Proposal[] = here.map((c) => at(run.nodes, c));
    for (const r of frontier.others ?? [])
      for (const i of draftsAt(r, accepted)) proposals.push(at(r.nodes, i));
    const pick = greedy
      ? { token: out.argmax, fromDraft: proposals.some((c) => c.token === out.argmax) }
      : sampleHere(out, proposals, sampling, accepted.length);
    tokens.push(pick.token);
    fromDraft.push(pick.fromDraft);
    accepted.push(pick.token);
    const child = here.find((c) => at(run.nodes, c).token === pick.token);
    if (child === undefined) break;
    path.push(child);
    v = child;
  }
  return { tokens, fromDraft, path, lastDraftNode: path[path.length - 1] ?? -1 };
}

/** The first `count` tokens of an acceptance (the caller stopped early: a stop token or the budget). */
export function truncateAcceptance(a: Acceptance, count: number): Acceptance {
  if (count >= a.tokens.length) return a;
  const path = a.path.slice(0, Math.max(0, count - 1));
  return {
    tokens: a.tokens.slice(0, count),
    fromDraft: a.fromDraft.slice(0, count),
    path,
    lastDraftNode: path[path.length - 1] ?? -1,
  };
}

function sampleHere(
  out: StageRowOutput,
  proposals: readonly Proposal[],
  s: ResolvedSampling,
  pos: number,
): { token: number; fromDraft: boolean } {
  if (out.logits === undefined)
    throw new MeshError("ERR_INTERNAL", `row ${out.row}: full logits missing for sampling`);
  const token = sampleAt(targetProbs(out.logits, s), s.seed, pos);
  return { token, fromDraft: proposals.some((c) => c.token === token) };
}
