// KvCache metadata semantics (docs/architecture.md, "KV cache semantics"): claiming, visibility through
// gather lists, newest-wins duplicates, the KvOps, release, and the coded errors. Pure host logic; the
// model-level consequences are tested per backend in kv-sequences.test.ts.

import { describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { KvCache, type KvClaim } from "../../src/model/kv-cache.ts";

function rows(positions: number[], seqIds: number[][]) {
  return { positions: Int32Array.from(positions), seqIds };
}

/** Row r's gather list as [position, cell] pairs. */
function listOf(cache: KvCache, claim: KvClaim, r: number): [number, number][] {
  const pos = new Map(cache.entries().map((e) => [e.cell, e.pos]));
  const ids = [...claim.cellIdx.subarray(claim.offsets[r], claim.offsets[r + 1])];
  return ids.map((c) => [pos.get(c)!, c]);
}

function positionsOf(cache: KvCache, claim: KvClaim, r: number): number[] {
  return listOf(cache, claim, r).map(([p]) => p);
}

describe("KvCache", () => {
  it("fills cells in order; a row sees earlier rows of its own batch and itself, not later ones", () => {
    const cache = new KvCache({ cells: 8 });
    const claim = cache.claim(rows([0, 1, 2], [[0], [0], [0]]));
    expect([...claim.cells]).toEqual([0, 1, 2]);
    expect(positionsOf(cache, claim, 0)).toEqual([0]);
    expect(positionsOf(cache, claim, 2)).toEqual([0, 1, 2]);
    // A later row at an earlier position is invisible to an earlier row (batch order = write order).
    const c2 = cache.claim(rows([5, 3], [[0], [0]]));
    expect(positionsOf(cache, c2, 0)).toEqual([0, 1, 2, 5]);
    expect(positionsOf(cache, c2, 1)).toEqual([0, 1, 2, 3]);
    expect(cache.used()).toBe(5);
  });

  it("shows canonical cells to every row and other sequences' cells to none", () => {
    const cache = new KvCache({ cells: 16 });
    cache.claim(rows([0, 1], [[0], [0]]));
    cache.claim(rows([2, 3], [[1], [1]])); // branch 1
    cache.claim(rows([2, 3], [[2], [2]])); // branch 2
    const q = cache.claim(rows([4, 4, 4], [[1], [2], [0]]));
    expect(positionsOf(cache, q, 0)).toEqual([0, 1, 2, 3, 4]);
    expect(listOf(cache, q, 0).map(([, c]) => c)).toEqual([0, 1, 2, 3, 6]);
    expect(listOf(cache, q, 1).map(([, c]) => c)).toEqual([0, 1, 4, 5, 7]);
    expect(positionsOf(cache, q, 2)).toEqual([0, 1, 4]); // canonical sees canonical only
  });

  it("a row with several sequence ids sees all of them, and its cell carries all of them", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0], [[1]]));
    cache.claim(rows([1], [[2]]));
    const q = cache.claim(rows([2], [[1, 2]]));
    expect(positionsOf(cache, q, 0)).toEqual([0, 1, 2]);
    expect(cache.entries().find((e) => e.cell === q.cells[0])?.seqs).toEqual([1, 2]);
  });

  it("counts only the newest of several visible cells at one position", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0, 1], [[0], [0]]));
    const again = cache.claim(rows([1], [[0]])); // rewrites position 1
    expect(listOf(cache, again, 0)).toEqual([
      [0, 0],
      [1, 2],
    ]);
    const next = cache.claim(rows([2], [[0]]));
    expect(listOf(cache, next, 0).map(([, c]) => c)).toEqual([0, 2, 3]);
  });

  it("sorts gather lists by position wherever the cells sit", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0, 1, 2, 3], [[1], [1], [1], [1]]));
    cache.apply({ op: "seq_rm", seq: 1, p0: 0, p1: 2 }); // frees cells 0 and 1
    const c = cache.claim(rows([9, 8], [[1], [1]])); // lands in the freed cells, last freed first
    expect([...c.cells]).toEqual([1, 0]);
    expect(listOf(cache, c, 1)).toEqual([
      [2, 2],
      [3, 3],
      [8, 0],
    ]);
  });

  it("seq_rm untags one sequence, frees untagged cells, and seq < 0 / p1 < 0 mean all / to the end", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0, 1, 2, 3], [[1, 2], [1, 2], [1], [1]]));
    cache.apply({ op: "seq_rm", seq: 1, p0: 1, p1: -1 });
    expect(cache.entries().map((e) => [e.pos, e.seqs])).toEqual([
      [0, [1, 2]],
      [1, [2]],
    ]);
    cache.apply({ op: "seq_rm", seq: -1, p0: 0, p1: 1 });
    expect(cache.entries().map((e) => e.pos)).toEqual([1]);
  });

  it("seq_cp re-tags (dst 0 commits to canonical), seq_keep keeps one sequence, clear frees all", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0, 1, 2], [[3], [3], [4]]));
    cache.apply({ op: "seq_cp", src: 3, dst: 0, p0: 1, p1: 2 });
    const q = cache.claim(rows([5], [[7]]));
    expect(positionsOf(cache, q, 0)).toEqual([1, 5]); // the committed cell is visible to any sequence
    cache.apply({ op: "seq_keep", seq: 3 });
    expect(cache.entries().map((e) => [e.pos, e.seqs])).toEqual([
      [0, [3]],
      [1, [3]],
    ]);
    cache.apply({ op: "clear" });
    expect(cache.used()).toBe(0);
  });

  it("release frees exactly the claimed cells", () => {
    const cache = new KvCache({ cells: 8 });
    cache.claim(rows([0, 1], [[0], [0]]));
    const c = cache.claim(rows([2, 3], [[0], [0]]));
    cache.release(c.cells);
    expect(cache.entries().map((e) => e.pos)).toEqual([0, 1]);
  });

  it("checks capacity before claiming anything (ERR_KV_FULL)", () => {
    const cache = new KvCache({ cells: 4 });
    cache.claim(rows([0, 1, 2], [[0], [0], [0]]));
    expect(() => cache.claim(rows([3, 4], [[0], [0]]))).toThrow(
      expect.objectContaining({ code: "ERR_KV_FULL" }),
    );
    expect(cache.used()).toBe(3);
    expect([...cache.claim(rows([3], [[0]])).cells]).toEqual([3]);
  });

  it("rejects sequence ids outside 0..maxSeqs-1 (ERR_KV_SEQ) without claiming", () => {
    const cache = new KvCache({ cells: 4, maxSeqs: 4 });
    for (const bad of [[4], [-1], [], [1.5]]) {
      let err: unknown;
      try {
        cache.claim(rows([0], [bad]));
      } catch (e) {
        err = e;
      }
      expect(isEngineError(err, "ERR_KV_SEQ")).toBe(true);
    }
    expect(() => cache.apply({ op: "seq_cp", src: 0, dst: 9, p0: 0, p1: -1 })).toThrow(
      /ERR_KV_SEQ/,
    );
    expect(cache.used()).toBe(0);
  });

  it("handles more than 32 sequences (multi-word bitsets)", () => {
    const cache = new KvCache({ cells: 8, maxSeqs: 100 });
    cache.claim(rows([0], [[70]]));
    cache.claim(rows([1], [[33]]));
    const q = cache.claim(rows([2], [[70, 99]]));
    expect(positionsOf(cache, q, 0)).toEqual([0, 2]);
    cache.apply({ op: "seq_cp", src: 70, dst: 0, p0: 0, p1: 1 });
    expect(positionsOf(cache, cache.claim(rows([3], [[33]])), 0)).toEqual([0, 1, 3]);
  });
});
