// KV sizing and sequence ids for a head and its stages, in one place: every peer of a room (CLI, browser,
// edge) derives the same cell count from the model and the room's context, so their caches agree.
// Numbers only; nothing here allocates.

import { DEFAULT_SPECULATION, requiredSeqIds } from "@pipemesh/mesh";

/** Cells beyond the context that speculative partitions may occupy at once. */
export const SPECULATIVE_CELLS = 512;
/** The context a model gets when nobody names one: its own, at most this many tokens. */
export const DEFAULT_CONTEXT_CAP = 4096;
/** Sequence ids every stage provides at least (the scheduler's partitions may need more). */
export const MIN_SEQ_IDS = 64;

export interface KvSizing {
  /** Cells per stage: the context plus room for speculative partitions. */
  kvCells: number;
  /** Sequence ids per cell. */
  maxSeqs: number;
  /** Context the stages' KV holds (the head may cap it further by its draft model). */
  contextTokens: number;
}

/** The context length to serve: `ctx` when given (at most the model's), else the model's up to `cap`. */
export function contextLength(
  config: { maxPositions: number },
  ctx?: number,
  cap: number = DEFAULT_CONTEXT_CAP,
): number {
  return Math.min(config.maxPositions, ctx ?? cap);
}

/** Sequence ids a scheduler with these speculation settings needs, at least MIN_SEQ_IDS. */
export function seqIdsFor(speculation: Parameters<typeof requiredSeqIds>[0]): number {
  return Math.max(MIN_SEQ_IDS, requiredSeqIds(speculation));
}

/** K/V sizing for a model: the room's context when it names one, else the model's up to `cap`. */
export function kvSizing(
  config: { maxPositions: number },
  ctx?: number,
  cap: number = DEFAULT_CONTEXT_CAP,
): KvSizing {
  const contextTokens = contextLength(config, ctx, cap);
  return {
    kvCells: contextTokens + SPECULATIVE_CELLS,
    maxSeqs: seqIdsFor(DEFAULT_SPECULATION),
    contextTokens,
  };
}
