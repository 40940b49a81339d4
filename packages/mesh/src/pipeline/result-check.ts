// The head's check of a tail's result against the run it answers and the model: one output per output row
// (each row once), ids below the vocabulary size, probabilities finite and in [0, 1], top-k lists of equal
// length and at most topK long, logits exactly for the rows that asked, vocab long and finite. A result
// that fails is never handed to the scheduler: it is ERR_RESULT_INVALID (or ERR_NONFINITE) naming the tail.

import { MeshError } from "../errors.ts";
import type { RunOutcome } from "../ports.ts";
import { firstNonFinite } from "./finite.ts";

/** What the head asked of a run. */
export interface RunAsk {
  outputRows: Int32Array;
  logitsRows?: Int32Array | undefined;
  topK?: number | undefined;
}

type Done = Extract<RunOutcome, { status: "done" }>;

export function checkResult(
  result: Done,
  ask: RunAsk,
  vocabSize: number | undefined,
  who: string,
): void {
  const bad = (why: string): never => {
    throw new MeshError("ERR_RESULT_INVALID", `${who}: run ${result.runId}: ${why}`);
  };
  const nonFinite = (why: string): never => {
    throw new MeshError("ERR_NONFINITE", `${who}: run ${result.runId}: ${why}`);
  };
  const vocab = vocabSize ?? result.outputs.find((o) => o.logits !== undefined)?.logits?.length;
  const id = (x: number, what: string): void => {
    if (!Number.isInteger(x) || x < 0 || (vocab !== undefined && x >= vocab))
      bad(`${what} ${x} is outside the vocabulary [0, ${vocab ?? "?"})`);
  };
  const prob = (p: number, what: string): void => {
    if (firstNonFinite([p]) >= 0) nonFinite(`${what} is ${p}`);
    if (p < 0 || p > 1) bad(`${what} ${p} is outside [0, 1]`);
  };
  const wanted = new Set(ask.outputRows);
  const wantLogits = new Set(ask.logitsRows ?? []);
  if (result.outputs.length !== wanted.size)
    bad(`${result.outputs.length} outputs for ${wanted.size} output rows`);
  const seen = new Set<number>();
  for (const o of result.outputs) {
    if (!wanted.has(o.row) || seen.has(o.row)) bad(`output for row ${o.row} was not asked for`);
    seen.add(o.row);
    id(o.argmax, `row ${o.row} argmax`);
    prob(o.prob, `row ${o.row} probability`);
    if (o.topIds.length !== o.topProbs.length)
      bad(`row ${o.row} top-k ids and probabilities differ in length`);
    if (ask.topK !== undefined && o.topIds.length > ask.topK)
      bad(`row ${o.row} has ${o.topIds.length} top-k entries for topK ${ask.topK}`);
    for (const t of o.topIds) id(t, `row ${o.row} top-k id`);
    for (const p of o.topProbs) prob(p, `row ${o.row} top-k probability`);
    if ((o.logits !== undefined) !== wantLogits.has(o.row))
      bad(
        `row ${o.row} ${o.logits === undefined ? "lacks the logits it asked for" : "carries logits it did not ask for"}`,
      );
    if (o.logits !== undefined) {
      if (o.logits.length !== vocab)
        bad(`row ${o.row} logits have ${o.logits.length} entries, vocabulary ${vocab}`);
      const i = firstNonFinite(o.logits);
      if (i >= 0) nonFinite(`row ${o.row} logits hold ${o.logits[i]} at index ${i}`);
    }
  }
}
