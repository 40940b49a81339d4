// The generation's KV bookkeeping over the partition pool: allocates a speculative run's partition and
// issues its chain copies, commits a verified run's accepted drafts to canonical KV, frees a run's
// partition once it is verified, stale or cancelled, and cancels (over the network) the dead runs
// runsToCancel picks. Each event issues O(branches) ops. It decides nothing about what to launch or accept
// (the op builders and the protocol are in kv-protocol.ts and README.md).

import type { PipelinePort } from "../ports.ts";
import { at } from "./at.ts";
import type { GenerationState } from "./generation-state.ts";
import {
  chainCopyOps,
  commitOp,
  seqsOf,
  type Partition,
  type PartitionPool,
} from "./kv-protocol.ts";
import type { LoopMetrics } from "./loop-metrics.ts";
import { runsToCancel, type RunRecord } from "./runs.ts";

export class KvLedger {
  readonly #pipeline: Pick<PipelinePort, "kv" | "cancel">;
  readonly #pool: PartitionPool;
  readonly #metrics: LoopMetrics;

  constructor(
    pipeline: Pick<PipelinePort, "kv" | "cancel">,
    pool: PartitionPool,
    metrics: LoopMetrics,
  ) {
    this.#pipeline = pipeline;
    this.#pool = pool;
    this.#metrics = metrics;
  }

  get freePartitions(): number {
    return this.#pool.freeCount;
  }

  alloc(): Partition | null {
    return this.#pool.alloc();
  }

  /**
   * A micro-batch chained from branch `branch` of `from` (in `partition`, `branchCount` branches): copies
   * the unverified chain [chainStart, firstPos) into each of its branch ids. Nothing for a run at the
   * frontier or one chained from a run without a partition.
   */
  copyChain(
    from: RunRecord | null,
    branch: number,
    partition: Partition,
    branchCount: number,
    chainStart: number,
    firstPos: number,
  ): void {
    if (from?.partition == null) return;
    const src = from.partition.firstSeq + branch;
    const seqs = seqsOf(partition, branchCount);
    for (const op of chainCopyOps(src, seqs, chainStart, firstPos)) this.#pipeline.kv(op);
  }

  /**
   * A verified run's drafts were accepted up to node `lastDraftNode` (from position `from`): copies its
   * branch into canonical KV over [from, node.pos + 1) and moves the canonical frontier.
   */
  commit(state: GenerationState, run: RunRecord, lastDraftNode: number, from: number): void {
    if (lastDraftNode < 0 || run.partition === null) return;
    const node = at(run.nodes, lastDraftNode);
    const end = node.pos + 1;
    this.#pipeline.kv(commitOp(run.partition.firstSeq + at(node.branches, 0), from, end));
    state.canonicalEnd = Math.max(state.canonicalEnd, end);
  }

  /** Frees the run's partition (its branch ids untagged, the partition back in the pool); idempotent. */
  release(run: RunRecord): void {
    if (run.partition === null) return;
    for (const op of this.#pool.release(run.partition, run.branchCount)) this.#pipeline.kv(op);
    run.partition = null;
  }

  /** Cancels (over the network) and frees every run runsToCancel picks. */
  cancelInvalid(state: GenerationState): void {
    const dead = runsToCancel(state.runs, state.tokens);
    this.#cancel(dead);
    for (const r of dead) this.release(r);
  }

  /** After the end: cancels every cancellable speculative run left and frees every partition. */
  cancelAll(state: GenerationState): void {
    this.#cancel(
      state.runs.filter(
        (r) => r.kind === "speculative" && !r.cancelled && r.draftNodes.length === r.nodes.length,
      ),
    );
    for (const r of state.runs) this.release(r);
  }

  /**
   * The pipeline failed: every run in flight is gone with it. Frees their partitions without issuing an op
   * (the replacement's stages start with empty KV) and empties the run table.
   */
  forgetAll(state: GenerationState): void {
    for (const r of state.runs) {
      if (r.partition !== null) this.#pool.release(r.partition, r.branchCount);
      r.partition = null;
    }
    state.runs.length = 0;
  }

  #cancel(dead: readonly RunRecord[]): void {
    if (dead.length === 0) return;
    for (const r of dead) r.cancelled = true;
    this.#pipeline.cancel(dead.map((r) => r.runId));
    this.#metrics.onCancelled(dead.length);
  }
}
