// Scheduler configuration: decode modes, the speculation knobs with their defaults (one place), mode
// resolution (ERR_NO_DRAFT) and the sequence-id budget the stages must provide. No behaviour here.

import { MeshError } from "../errors.ts";

/**
 * - `plain`: pipeline-parallel decoding, one canonical run and one token per round trip.
 * - `speculative`: synchronous speculation: draft a tree, verify it in one run, wait, repeat.
 * - `pipeinfer`: asynchronous pipelined speculation with early cancellation (the default with a draft).
 */
export type DecodeMode = "plain" | "speculative" | "pipeinfer";

export const DECODE_MODES: readonly DecodeMode[] = ["plain", "speculative", "pipeinfer"];

/**
 * Draft-tree and speculation knobs. Names follow the reference (PipeInfer `speculative.cpp`):
 * `--draft-max` = n_draft, `--draft-branches` = -np, `-pa/-ps/-pr/-pd` = pAccept/pSplit/pRecovery/pDecay.
 */
export interface SpeculationOptions {
  /** Most branches (sequence ids) in one micro-batch's tree. Reference: 3 recommended (`-np`). */
  draftBranches: number;
  /** Most drafted tokens (tree rows) in one micro-batch. Reference README: 3–4, keep below 8. */
  draftMax: number;
  /**
   * Most drafted tokens in the first micro-batch of a new chain (pipeinfer). A small first batch is drafted
   * and through the pipeline sooner, which shortens the wait after every rejection.
   */
  firstDraftMax: number;
  /**
   * A branch keeps drafting while the draft's confidence in its top-1 is >= pAccept + pAdjust (`-pa`). The
   * confidence is the calibrated P(target agrees) when `calibrate` is on (greedy), else the raw probability.
   */
  pAccept: number;
  /** A candidate other than the top-1 opens a new branch when its confidence > pSplit + pAdjust (`-ps`). */
  pSplit: number;
  /** pAdjust grows by pRecovery per speculative run already in flight in the chain (`-pr`). */
  pRecovery: number;
  /** pAdjust shrinks by pDecay per empty draft attempt since the last acceptance (`-pd`). */
  pDecay: number;
  /** Cap on speculative runs in flight (canonical runs are never delayed and not counted). */
  maxInFlightRuns: number;
  /** Cap on KV partitions (blocks of draftBranches sequence ids); also bounded by maxSeqIds. */
  maxPartitions: number;
  /** Candidates asked of the drafter per step (reference: top-8). */
  draftTopK: number;
  /**
   * Calibrate the draft's confidence online (greedy decoding only): learn P(the target's token is the
   * draft's rank-r candidate | r, its draft probability) from verified positions, across the generations
   * of one scheduler, and use it wherever the knobs speak of confidence. Off: raw draft probabilities,
   * as in the reference.
   */
  calibrate: boolean;
  /**
   * pipeinfer: let the speculation governor (governor.ts) turn speculation off where it measures it slower
   * than plain decoding (stages busy computing rather than waiting on hops), re-probing now and then.
   */
  governor: boolean;
  /** Pseudo-observations behind each calibration cell's prior (the raw probability, rescaled per rank). */
  calibrationPriorWeight: number;
  /**
   * pipeinfer, greedy: also launch sibling micro-batches rooted at the draft's other candidates at a
   * drafted position (speculating the correction), best-first against chain continuations by the
   * probability that each is the path the target takes, within maxInFlightRuns and maxPartitions.
   */
  speculateCorrections: boolean;
}

/**
 * Defaults. pAccept/pSplit come from the reference's tuned regime for well-aligned pairs (README and
 * scripts: `-pa 0.1`, `-ps 0.8..0.9`, `-pr 0`, `-pd 0`; the compiled-in defaults 0.5/0.1 are not what
 * the authors ran); draftMax 4 and draftBranches 3 as the issue asks. maxInFlightRuns and maxPartitions
 * were tuned on packages/mesh/bench/spec-sim.ts (see packages/mesh/src/scheduler/README.md): 4 runs in
 * flight do as well as 8 there, and on bench:spec's 2-core box, where stage processes share cores, fewer
 * speculative runs slow the canonical run less (wan: ~19-22 tok/s with 8, ~23-26 with 4).
 */
export const DEFAULT_SPECULATION: SpeculationOptions = {
  draftBranches: 3,
  draftMax: 4,
  firstDraftMax: 2,
  pAccept: 0.1,
  pSplit: 0.3,
  pRecovery: 0,
  pDecay: 0,
  maxInFlightRuns: 4,
  maxPartitions: 12,
  draftTopK: 8,
  calibrate: true,
  governor: true,
  speculateCorrections: false,
  calibrationPriorWeight: 2,
};

export interface SchedulerConfig {
  /** Requested mode; resolved by resolveMode (default: pipeinfer with a drafter, plain without). */
  mode?: DecodeMode | undefined;
  speculation?: Partial<SpeculationOptions> | undefined;
  /** Most prompt rows per prefill run, so stages overlap on long prompts (default 64). */
  prefillChunkRows?: number | undefined;
  /** Positions the stages' KV can hold; prompt + generation must fit (default unlimited). */
  maxContextTokens?: number | undefined;
  /** Sequence ids each stage accepts (engine default 64); caps maxPartitions. */
  maxSeqIds?: number | undefined;
  /** Pipeline replacements one generation may go through (with a recover port; default 8). */
  maxRecoveries?: number | undefined;
}

export interface ResolvedConfig {
  mode: DecodeMode;
  speculation: SpeculationOptions;
  prefillChunkRows: number;
  maxContextTokens: number;
  maxSeqIds: number;
  maxRecoveries: number;
}

/**
 * `plain` without a draft unless speculation was asked for explicitly (then ERR_NO_DRAFT);
 * `pipeinfer` with one unless another mode was asked for.
 */
export function resolveMode(requested: DecodeMode | undefined, hasDraft: boolean): DecodeMode {
  if (requested === undefined) return hasDraft ? "pipeinfer" : "plain";
  if (requested !== "plain" && !hasDraft) {
    throw new MeshError(
      "ERR_NO_DRAFT",
      `mode "${requested}" needs a draft model; load one (--draft) or use --mode plain`,
    );
  }
  return requested;
}

/** Sequence ids the stages need: canonical 0 plus maxPartitions blocks of draftBranches ids. */
export function requiredSeqIds(
  spec: Pick<SpeculationOptions, "maxPartitions" | "draftBranches">,
): number {
  return 1 + spec.maxPartitions * spec.draftBranches;
}

export function resolveConfig(config: SchedulerConfig, hasDraft: boolean): ResolvedConfig {
  const spec: SpeculationOptions = { ...DEFAULT_SPECULATION, ...definedOnly(config.speculation) };
  const maxSeqIds = config.maxSeqIds ?? 64;
  checkInt("draftBranches", spec.draftBranches, 1);
  checkInt("draftMax", spec.draftMax, 1);
  checkInt("firstDraftMax", spec.firstDraftMax, 1);
  checkInt("maxInFlightRuns", spec.maxInFlightRuns, 1);
  checkInt("maxPartitions", spec.maxPartitions, 1);
  checkInt("draftTopK", spec.draftTopK, 1);
  checkInt("maxSeqIds", maxSeqIds, 1 + spec.draftBranches);
  for (const k of ["pAccept", "pSplit", "pRecovery", "pDecay"] as const) {
    if (!Number.isFinite(spec[k]) || spec[k] < 0)
      throw invalid(`${k} must be a finite number >= 0`);
  }
  if (typeof spec.calibrate !== "boolean") throw invalid("calibrate must be a boolean");
  if (typeof spec.governor !== "boolean") throw invalid("governor must be a boolean");
  if (typeof spec.speculateCorrections !== "boolean")
    throw invalid("speculateCorrections must be a boolean");
  if (!Number.isFinite(spec.calibrationPriorWeight) || spec.calibrationPriorWeight <= 0)
    throw invalid("calibrationPriorWeight must be a finite number > 0");
  // Every partition is a block of draftBranches ids after the canonical id 0.
  spec.maxPartitions = Math.min(
    spec.maxPartitions,
    Math.floor((maxSeqIds - 1) / spec.draftBranches),
  );
  const prefillChunkRows = config.prefillChunkRows ?? 64;
  checkInt("prefillChunkRows", prefillChunkRows, 1);
  const maxContextTokens = config.maxContextTokens ?? Number.POSITIVE_INFINITY;
  if (!(maxContextTokens >= 2)) throw invalid("maxContextTokens must be >= 2");
  const maxRecoveries = config.maxRecoveries ?? 8;
  checkInt("maxRecoveries", maxRecoveries, 0);
  return {
    mode: resolveMode(config.mode, hasDraft),
    speculation: spec,
    prefillChunkRows,
    maxContextTokens,
    maxSeqIds,
    maxRecoveries,
  };
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (o === undefined) return out;
  for (const [k, v] of Object.entries(o))
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw invalid(`${name} must be an integer >= ${min}, got ${v}`);
}

function invalid(message: string): MeshError {
  return invalidOption(`scheduler config: ${message}`);
}

/** The error for a bad option or request field (the code union has no dedicated code yet). */
export function invalidOption(message: string): MeshError {
  return new MeshError("ERR_INTERNAL", `invalid option: ${message}`);
}
