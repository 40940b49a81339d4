// The KV protocol: partition pool and op builders, and the README's worked example replayed on a toy KV
// cache, checking what each row can see at each step.
import { describe, expect, it } from "vitest";
import {
  chainCopyOps,
  commitOp,
  PartitionPool,
  seqsOf,
  truncateOp,
} from "../../../src/scheduler/kv-protocol.ts";
import { ToyKvCache } from "../../support/toy-kv-cache.ts";

describe("PartitionPool", () => {
  it("hands out disjoint blocks after seq 0, reuses them FIFO, frees only the ids used", () => {
    const pool = new PartitionPool(2, 3);
    const a = pool.alloc()!;
    const b = pool.alloc()!;
    expect([a.firstSeq, b.firstSeq]).toEqual([1, 4]);
    expect(pool.alloc()).toBeNull();
    expect(pool.release(a, 2)).toEqual([
      { op: "seq_rm", seq: 1, p0: 0, p1: -1 },
      { op: "seq_rm", seq: 2, p0: 0, p1: -1 },
    ]);
    expect(pool.release(a, 2)).toEqual([]); // idempotent
    expect(pool.alloc()).toBe(a);
    expect(seqsOf(b, 3)).toEqual([4, 5, 6]);
  });
});

describe("worked example (README.md)", () => {
  it("canonical run, chained speculative runs, commit and free leave exactly the accepted path", () => {
    const kv = new ToyKvCache({ capacity: 32, maxSeqs: 16, layers: 1 });
    const pool = new PartitionPool(2, 3);
    const p1 = pool.alloc()!; // seqs 1..3
    const p2 = pool.alloc()!; // seqs 4..6
    const run = (pos: number[], seqs: number[][]): void =>
      void kv.claim(Int32Array.from(pos), seqs);
    const posOf = (pos: number, seqs: number[]): number[] =>
      kv.visible(pos, seqs).map((c) => c.pos);
    // prompt 0..3 (prefill, seq 0); canonical run C for x@4
    run([0, 1, 2, 3], [[0], [0], [0], [0]]);
    run([4], [[0]]);
    // S1 (partition seqs 1..3): a@5 (branches 0,1), b@6 (branch 0), b'@6 (branch 1)
    run([5, 6, 6], [[1, 2], [1], [2]]);
    // S2 chained from S1 branch 0 (partition 4..6): copy S1.b0 into seq 4 over [5, 7), then c@7, d@8
    for (const op of chainCopyOps(p1.firstSeq, seqsOf(p2, 1), 5, 7)) kv.apply(op);
    run([7, 8], [[4], [4]]);
    expect(posOf(8, [4])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // S1's branch 1 row sees the prompt, x, a and b' but not b
    const seen = kv.visible(6, [2]).map((c) => c.seqs);
    expect(seen[6]).toEqual([2]);
    // C's outcome: a at 5 (S1's root matches) -> canonical run C(a@5), no KV op
    run([5], [[0]]);
    // S1's outcome from its row a@5: b at 6 (draft), c at 7 (bonus). Commit [6, 7) from branch 0, free S1.
    kv.apply(commitOp(p1.firstSeq, 6, 7));
    for (const op of pool.release(p1, 2)) kv.apply(op);
    // canonical run for c@7
    run([7], [[0]]);
    // canonical now holds 0..7 once each; S2's cells are still visible to seq 4 (c@7 and d@8)
    const canon = kv
      .entries()
      .filter((e) => e.seqs.includes(0))
      .map((e) => e.pos)
      .sort((a, b) => a - b);
    expect(canon).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(posOf(8, [4])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // a new run in a reused partition (seqs 1..3) sees only canonical cells: nothing stale leaks
    expect(posOf(20, [1, 2, 3])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // truncation drops everything from a position on, in every sequence
    kv.apply(truncateOp(6));
    expect(kv.entries().every((e) => e.pos < 6)).toBe(true);
    const left = kv.entries().filter((e) => e.seqs.includes(0));
    expect(left.map((e) => e.pos).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
