// The LayerShard contract: what a shard computes on (ShardBatch), what it returns (ShardResult), the
// KV-cache operations it applies (KvOp), and the LayerShard interface every backend (CPU, WebGPU, worker
// client) implements. Types only. The mesh mirrors these structurally in its ports; keep them plain data
// (typed arrays, numbers, arrays) so they cross postMessage and the wire unchanged.

/** Sequence 0 is the canonical sequence: its cells are visible to every row (see KvCache). */
export const CANONICAL_SEQ = 0;

/**
 * One run through a shard: `rows` tokens at given positions.
 * Exactly one of `tokens` (the shard embeds) or `hidden` (it does not) is set.
 */
export interface ShardBatch {
  /** [rows] token ids; set iff the shard embeds (it is the first shard). */
  tokens?: Int32Array | undefined;
  /** [rows, hiddenSize] f32 hidden states from the previous shard; set iff the shard does not embed. */
  hidden?: Float32Array | undefined;
  /** [rows] absolute token positions. */
  positions: Int32Array;
  /**
   * Per row, the sequence ids it belongs to (non-empty). The row's new KV cell is tagged with all of them;
   * the row attends to cells at positions <= its own that carry CANONICAL_SEQ or share one of its ids.
   */
  seqIds: readonly (readonly number[])[];
  /** Row indices (ascending) for which the last shard returns outputs. Ignored by non-last shards. */
  outputRows: Int32Array;
  /** Subset of outputRows for which the full logits row is also returned (sampling at temperature > 0). */
  logitsRows?: Int32Array | undefined;
  /** How many top candidates to return per output row (default: the shard's configured topK). */
  topK?: number | undefined;
}

/** The last shard's result for one output row. Probabilities are softmax(logits) at temperature 1. */
export interface RowOutput {
  row: number;
  argmax: number;
  prob: number;
  /** [topK] ids by descending probability (ties: lower id first). */
  topIds: Int32Array;
  /** [topK] their probabilities. */
  topProbs: Float32Array;
  /** [vocab] raw logits; only for rows listed in logitsRows. */
  logits?: Float32Array | undefined;
}

export interface ShardResult {
  /** [rows, hiddenSize] output hidden states of a non-last shard. */
  hidden?: Float32Array | undefined;
  /** One entry per outputRows entry, same order; only from the last shard. */
  outputs?: RowOutput[] | undefined;
}

/**
 * KV-cache operations, applied in issue order with runs. Positions are half-open [p0, p1); p1 < 0 means
 * "to the end". `seq < 0` in seq_rm means every sequence. Each op is one message on the wire and
 * O(cells) host work on a stage; no op touches K/V data on the GPU (cells are re-tagged, not copied).
 */
export type KvOp =
  /** Untag `seq` from cells in [p0, p1); cells left with no sequence are freed. */
  | { op: "seq_rm"; seq: number; p0: number; p1: number }
  /** Tag cells of `src` in [p0, p1) with `dst` too (dst = 0 commits them to the canonical sequence). */
  | { op: "seq_cp"; src: number; dst: number; p0: number; p1: number }
  /** Free every cell not tagged with `seq`, and untag all other sequences from the rest. */
  | { op: "seq_keep"; seq: number }
  /** Free every cell. */
  | { op: "clear" };

export interface ShardInfo {
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
  /** This shard embeds token ids (it is first). */
  embeds: boolean;
  /** This shard is the tail: it applies the final norm and LM head (it is last). */
  tail: boolean;
  backend: "cpu" | "webgpu";
  /** Human-readable adapter description ("cpu" for the CPU backend). */
  adapter: string;
  hiddenSize: number;
  vocabSize: number;
  kvCells: number;
  maxSeqs: number;
  /** Bytes of weights this shard holds. */
  weightBytes: number;
  /**
   * Where the load's weight bytes came from, when it read through a weight cache: bytes served by the
   * cache and bytes downloaded (a returning contributor loads from its cache with none downloaded).
   */
  weightSource?: { cachedBytes: number; downloadedBytes: number } | undefined;
}

export interface LayerShard {
  readonly info: ShardInfo;
  /**
   * Runs layers [layerStart, layerEnd) on the batch. The signal is checked before and between layers;
   * an aborted run rejects with EngineError ERR_ABORTED and leaves the KV cache consistent (cells the
   * run claimed are freed, nothing else changes).
   */
  run(batch: ShardBatch, signal?: AbortSignal): Promise<ShardResult>;
  /** Applies a KV op. Ops and runs must be applied in issue order. */
  kv(op: KvOp): Promise<void>;
  /** Cells in use (for tests and stats). */
  kvUsed(): Promise<number>;
  /** Idempotent; afterwards every method rejects with ERR_DESTROYED. */
  destroy(): Promise<void>;
}
