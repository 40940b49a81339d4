// Non-finite values (NaN, ±Infinity) in activations, logits and probabilities: one cheap linear scan, and the
// coded error a stage or a receiver raises for them. A NaN must never travel on as a number: JSON turns it
// into null and a result carrying it could never be decoded, so the generation would wait for nothing.

import { MeshError } from "../errors.ts";
import type { StageResult } from "../ports.ts";

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (x - x !== 0) return i; // NaN - NaN and Inf - Inf are NaN; every finite x gives 0
  }
  return -1;
}

/** Throws ERR_NONFINITE naming `who` when a tensor holds NaN or infinity. */
export function checkFinite(values: ArrayLike<number>, what: string, who: string): void {
  const i = firstNonFinite(values);
  if (i >= 0) {
    throw new MeshError(
      "ERR_NONFINITE",
      `${who}: ${what} hold ${String(values[i])} at index ${i} of ${values.length}`,
    );
  }
}

/** Checks a runner's output (hidden states, or the tail's probabilities and logits) where it was made. */
export function checkFiniteResult(result: StageResult, who: string): void {
  if (result.hidden !== undefined) checkFinite(result.hidden, "output hidden states", who);
  for (const o of result.outputs ?? []) {
    checkFinite([o.prob], `row ${o.row} probability`, who);
    checkFinite(o.topProbs, `row ${o.row} top-k probabilities`, who);
    if (o.logits !== undefined) checkFinite(o.logits, `row ${o.row} logits`, who);
  }
}

/**
 * The code a stage reports for its runner's failure: ERR_NONFINITE stays itself (from this check or from the
 * engine's own, which carries the same code), anything else is ERR_STAGE_FAILED.
 */
export function failureCode(error: unknown): "ERR_NONFINITE" | "ERR_STAGE_FAILED" {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ERR_NONFINITE" ? "ERR_NONFINITE" : "ERR_STAGE_FAILED";
}
