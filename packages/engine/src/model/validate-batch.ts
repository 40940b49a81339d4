// Checks a ShardBatch against the shard that will run it, before anything is claimed or computed
// (ERR_BATCH_INVALID, ERR_CONTEXT_LENGTH). Shared by every backend so they reject the same batches.

import { EngineError } from "../errors.ts";
import type { ShardBatch } from "./batch.ts";

export interface BatchLimits {
  embeds: boolean;
  tail: boolean;
  hiddenSize: number;
  vocabSize: number;
  /** Positions must be < maxPositions. */
  maxPositions: number;
  /** The shard's default top-k. */
  topK: number;
}

function bad(detail: string): EngineError {
  return new EngineError("ERR_BATCH_INVALID", detail);
}

function checkAscending(name: string, rows: Int32Array, count: number): void {
  let prev = -1;
  for (const r of rows) {
    if (!Number.isInteger(r) || r <= prev || r >= count) {
      throw bad(
        `${name} must be ascending row indices below ${count}, got [${[...rows].join(", ")}]`,
      );
    }
    prev = r;
  }
}

/** Validates the batch; returns its row count and the top-k to use. */
export function validateBatch(
  batch: ShardBatch,
  limits: BatchLimits,
): { rows: number; topK: number } {
  const rows = batch.positions.length;
  if (rows < 1) throw bad("a batch needs at least one row");
  if (batch.seqIds.length !== rows)
    throw bad(`${rows} positions but ${batch.seqIds.length} seqIds`);
  if (limits.embeds) {
    if (batch.tokens === undefined || batch.hidden !== undefined) {
      throw bad("the first shard takes tokens, not hidden states");
    }
    if (batch.tokens.length !== rows)
      throw bad(`${rows} positions but ${batch.tokens.length} tokens`);
    for (const t of batch.tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= limits.vocabSize) {
        throw bad(`token id ${t} is outside the vocabulary (0..${limits.vocabSize - 1})`);
      }
    }
  } else {
    if (batch.hidden === undefined || batch.tokens !== undefined) {
      throw bad("a shard after the first takes hidden states, not tokens");
    }
    if (batch.hidden.length !== rows * limits.hiddenSize) {
      throw bad(
        `hidden has ${batch.hidden.length} values, expected ${rows} x ${limits.hiddenSize}`,
      );
    }
  }
  for (const p of batch.positions) {
    if (p < 0) throw bad(`position ${p} is negative`);
    if (p >= limits.maxPositions) {
      throw new EngineError(
        "ERR_CONTEXT_LENGTH",
        `position ${p} is beyond the model's context of ${limits.maxPositions} tokens`,
      );
    }
  }
  checkAscending("outputRows", batch.outputRows, rows);
  if (batch.logitsRows !== undefined) {
    checkAscending("logitsRows", batch.logitsRows, rows);
    const out = new Set(batch.outputRows);
    for (const r of batch.logitsRows)
      if (!out.has(r)) throw bad(`logits row ${r} is not an output row`);
  }
  const topK = batch.topK ?? limits.topK;
  if (!Number.isInteger(topK) || topK < 1)
    throw bad(`topK must be a positive integer, got ${topK}`);
  return { rows, topK: Math.min(topK, limits.vocabSize) };
}
