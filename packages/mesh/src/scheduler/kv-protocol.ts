// The head's KV protocol as op builders, plus the partition pool. Sequence 0 is canonical; a speculative
// run owns one partition (a block of draftBranches sequence ids, one per tree branch). Every event costs
// O(1) ops: a chained launch copies its predecessor's main line into each of its branch ids, a verified
// run commits its accepted range with one seq_cp into 0, and a finished or cancelled run frees its ids.
// Protocol and worked example: ./README.md.

import type { StageKvOp } from "../ports.ts";

export const CANONICAL_SEQ = 0;

/** A block of sequence ids [firstSeq, firstSeq + size) owned by at most one run at a time. */
export interface Partition {
  readonly index: number;
  readonly firstSeq: number;
}

/** Chained launch: make the predecessor's main line [p0, p1) visible to each new branch id. */
export function chainCopyOps(
  srcSeq: number,
  dstSeqs: readonly number[],
  p0: number,
  p1: number,
): StageKvOp[] {
  return dstSeqs.map((dst) => ({ op: "seq_cp", src: srcSeq, dst, p0, p1 }));
}

/**
 * Commit: the accepted drafts at [p0, p1) of one branch become canonical. p0 is one past the position of
 * the token the run was verified from (the canonical run for that token writes it) and p1 the position of
 * the correction/bonus token (whose own canonical run comes next), so no position gets two canonical writers.
 */
export function commitOp(branchSeq: number, p0: number, p1: number): StageKvOp {
  return { op: "seq_cp", src: branchSeq, dst: CANONICAL_SEQ, p0, p1 };
}

/** Frees a run's ids everywhere: committed cells keep seq 0, everything else of the run goes. */
export function freeOps(seqs: readonly number[]): StageKvOp[] {
  return seqs.map((seq) => ({ op: "seq_rm", seq, p0: 0, p1: -1 }));
}

/** Forget every position >= length in every sequence (conversation truncation). */
export function truncateOp(length: number): StageKvOp {
  return { op: "seq_rm", seq: -1, p0: length, p1: -1 };
}

export const CLEAR_OP: StageKvOp = { op: "clear" };

/**
 * Partitions 0..count-1; partition k owns ids [1 + k·size, 1 + (k+1)·size). Allocation is FIFO over free
 * partitions so a freed block is reused as late as possible (its free ops are long applied by then;
 * correctness does not depend on it because stages apply ops and runs in issue order).
 */
export class PartitionPool {
  readonly size: number;
  readonly #free: Partition[];
  readonly #held = new Set<number>();

  constructor(count: number, size: number) {
    this.size = size;
    this.#free = Array.from({ length: count }, (_, index) => ({
      index,
      firstSeq: 1 + index * size,
    }));
  }

  get freeCount(): number {
    return this.#free.length;
  }

  get heldCount(): number {
    return this.#held.size;
  }

  alloc(): Partition | null {
    const p = this.#free.shift() ?? null;
    if (p !== null) this.#held.add(p.index);
    return p;
  }

  /** Returns the partition and the ops that free the `used` ids it tagged (idempotent per allocation). */
  release(p: Partition, used: number): StageKvOp[] {
    if (!this.#held.delete(p.index)) return [];
    this.#free.push(p);
    return freeOps(seqsOf(p, used));
  }
}

export function seqsOf(p: Partition, count: number): number[] {
  return Array.from({ length: count }, (_, b) => p.firstSeq + b);
}
