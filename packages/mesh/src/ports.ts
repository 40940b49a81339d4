// Ports: what the mesh needs from compute, declared structurally so the mesh never imports the engine.
// The engine's LayerShard / drafters satisfy these shapes; apps/web/src/wiring.ts and apps/cli check the fit
// with `satisfies`. Tests plug in CPU or fake implementations. Types only.

/** Mirrors the engine's ShardBatch (see packages/engine/src/model/batch.ts for field docs). */
export interface StageBatch {
  tokens?: Int32Array | undefined; // [rows] when the stage embeds
  hidden?: Float32Array | undefined; // [rows, hiddenSize] otherwise
  positions: Int32Array; // [rows]
  seqIds: readonly (readonly number[])[]; // per row
  outputRows: Int32Array; // rows needing outputs from the last stage
  logitsRows?: Int32Array | undefined; // rows needing full logits
  topK?: number | undefined;
}

export interface StageRowOutput {
  row: number;
  argmax: number;
  prob: number;
  topIds: Int32Array;
  topProbs: Float32Array;
  logits?: Float32Array | undefined; // [vocab]
}

export interface StageResult {
  hidden?: Float32Array | undefined;
  outputs?: StageRowOutput[] | undefined;
}

export type StageKvOp =
  | { op: "seq_rm"; seq: number; p0: number; p1: number }
  | { op: "seq_cp"; src: number; dst: number; p0: number; p1: number }
  | { op: "seq_keep"; seq: number }
  | { op: "clear" };

/** A stage's compute: the engine's LayerShard satisfies this. */
export interface StageRunner {
  run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult>;
  kv(op: StageKvOp): Promise<void>;
}

/** The draft model's next-token distribution after a context. */
export interface DraftPrediction {
  /** [k] candidate ids by descending probability. */
  topIds: Int32Array;
  /** [k] their probabilities (softmax at temperature 1). */
  topProbs: Float32Array;
  /** [vocab] full probabilities, only when asked (sampled drafting at temperature > 0). */
  probs?: Float32Array | undefined;
}

/**
 * The draft model at the head. Contexts are full token sequences (prompt + accepted + speculative); the
 * drafter caches its own KV per context prefix and reuses it, so asking for a context that extends an
 * earlier one costs only the new tokens. `predict` evaluates several contexts (tree branches) at once.
 */
export interface Drafter {
  readonly vocabSize: number;
  predict(
    contexts: readonly Int32Array[],
    options: { topK: number; wantProbs?: boolean },
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]>;
  /**
   * The accepted context grew or was replaced: cached states that are not prefixes-consistent with
   * `accepted` (and not extensions of it) may be dropped.
   */
  accept(accepted: Int32Array): Promise<void>;
  /** Forget everything (new conversation). */
  reset(): Promise<void>;
  destroy(): Promise<void>;
}

/** One run as the head's scheduler launches it (token ids; the pipeline embeds at the head). */
export interface RunSpec {
  runId: number;
  /** Canonical and prefill runs are never cancelled over the network; speculative runs may be. */
  kind: "canonical" | "speculative" | "prefill";
  tokens: Int32Array; // [rows]
  positions: Int32Array; // [rows]
  seqIds: readonly (readonly number[])[]; // per row
  outputRows: Int32Array;
  logitsRows?: Int32Array | undefined;
  topK?: number | undefined;
}

/**
 * Per stage a run passed, in pipeline order (the head's own shard first): `[waitMs, computeMs]` pairs,
 * flattened. waitMs is the time the run (or its skip marker) queued at that stage before its compute
 * started or it was skipped; computeMs is 0 where it was skipped. Durations only (peers' clocks differ),
 * for the pipeline view; optional, since older peers do not send them.
 */
export type StageTimesMs = number[];

/** What comes back for a run, in launch order. `stageComputeMs` sums compute time spent on every stage. */
export type RunOutcome =
  | {
      runId: number;
      status: "done";
      outputs: StageRowOutput[];
      stageComputeMs: number;
      stageTimesMs?: StageTimesMs | undefined;
    }
  | {
      runId: number;
      status: "skipped";
      stageComputeMs: number;
      stageTimesMs?: StageTimesMs | undefined;
    };

/**
 * The scheduler's view of a pipeline (in-process, simulated, or over WebRTC). Runs and KV ops reach every
 * stage in issue order; cancels travel out of band and overtake queued work.
 */
export interface PipelinePort {
  /** Queue a run through every stage. */
  launch(run: RunSpec): void;
  /** Queue a KV op for every stage, ordered with runs. */
  kv(op: StageKvOp): void;
  /** Stages skip these runs if they have not finished them. Idempotent; never for canonical runs. */
  cancel(runIds: readonly number[]): void;
  /** True when the oldest outstanding run's outcome has arrived (a non-blocking probe). */
  hasOutcome(): boolean;
  /** The oldest outstanding run's outcome. Rejects with MeshError (ERR_PEER_LOST, ERR_STAGE_FAILED, ...). */
  next(signal?: AbortSignal): Promise<RunOutcome>;
}
