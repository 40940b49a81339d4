// KvCache: the host-side metadata of a shard's KV cache, exactly the semantics of docs/architecture.md
// ("KV cache semantics"): a pool of cells, each with a position, a sequence-id bitset and a write serial;
// claiming cells for a batch, building per-row gather lists, and the KvOps. Both backends use it; it never
// holds K/V data (the backend stores K/V at the cell indices this class hands out).

import { EngineError } from "../errors.ts";
import { CANONICAL_SEQ, type KvOp } from "./batch.ts";
import { DEFAULT_MAX_SEQS } from "./shard-spec.ts";

/** The rows of a batch as the cache sees them (a ShardBatch satisfies this). */
export interface KvRows {
  positions: Int32Array; // [rows]
  seqIds: readonly (readonly number[])[]; // [rows][*]
}

/**
 * The cells claimed for a batch and each row's gather list: row r attends to cells
 * cellIdx[offsets[r] .. offsets[r+1]), sorted by position, one cell per position.
 */
export interface KvClaim {
  cells: Int32Array; // [rows] the cell each row writes
  offsets: Int32Array; // [rows + 1]
  cellIdx: Int32Array; // [offsets[rows]]
}

/** One used cell, for tests and debugging. */
export interface KvCellInfo {
  cell: number;
  pos: number;
  seqs: number[];
  serial: number;
}

export interface KvCacheOptions {
  cells: number;
  /** Sequence ids 0 .. maxSeqs-1 are valid; default DEFAULT_MAX_SEQS (64). */
  maxSeqs?: number | undefined;
}

const FREE = -1;

export class KvCache {
  readonly cells: number;
  readonly maxSeqs: number;
  readonly #words: number; // 32-bit words per cell's sequence bitset
  readonly #pos: Int32Array; // [cells] position, FREE when the cell is free
  readonly #serial: Float64Array; // [cells] write serial (monotonic; safe integers)
  readonly #seqBits: Uint32Array; // [cells, words]
  readonly #free: Int32Array; // stack of free cells; top is #free[#freeCount - 1]
  #freeCount: number;
  #nextSerial = 1;

  constructor(options: KvCacheOptions) {
    const maxSeqs = options.maxSeqs ?? DEFAULT_MAX_SEQS;
    if (!Number.isInteger(options.cells) || options.cells < 1) {
      throw new EngineError("ERR_BATCH_INVALID", `kvCells must be >= 1, got ${options.cells}`);
    }
    if (!Number.isInteger(maxSeqs) || maxSeqs < 1) {
      throw new EngineError("ERR_KV_SEQ", `maxSeqs must be >= 1, got ${maxSeqs}`);
    }
    this.cells = options.cells;
    this.maxSeqs = maxSeqs;
    this.#words = Math.ceil(maxSeqs / 32);
    this.#pos = new Int32Array(this.cells).fill(FREE);
    this.#serial = new Float64Array(this.cells);
    this.#seqBits = new Uint32Array(this.cells * this.#words);
    this.#free = new Int32Array(this.cells);
    // Lowest cell index on top, so a fresh cache fills cells 0, 1, 2, ... in order.
    for (let i = 0; i < this.cells; i++) this.#free[i] = this.cells - 1 - i;
    this.#freeCount = this.cells;
  }

  /** Cells in use. */
  used(): number {
    return this.cells - this.#freeCount;
  }

  /**
   * Claims one free cell per row, tagged with the row's position and sequence ids, with serials in row
   * order, and builds the rows' gather lists. Checks everything (ERR_KV_SEQ, ERR_KV_FULL) before claiming.
   */
  claim(rows: KvRows): KvClaim {
    const n = rows.positions.length;
    if (rows.seqIds.length !== n) {
      throw new EngineError("ERR_BATCH_INVALID", `${n} positions but ${rows.seqIds.length} seqIds`);
    }
    const masks = new Uint32Array(n * this.#words);
    for (let r = 0; r < n; r++) {
      const p = rows.positions[r] ?? -1;
      if (!Number.isInteger(p) || p < 0) {
        throw new EngineError("ERR_BATCH_INVALID", `row ${r}: position ${p} is negative`);
      }
      this.#maskOf(rows.seqIds[r] ?? [], masks, r * this.#words, `row ${r}`);
    }
    if (n > this.#freeCount) {
      throw new EngineError(
        "ERR_KV_FULL",
        `a run of ${n} rows needs ${n} free KV cells; ${this.#freeCount} of ${this.cells} are free`,
      );
    }
    const cells = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const c = this.#free[--this.#freeCount] ?? 0;
      cells[r] = c;
      this.#pos[c] = rows.positions[r] ?? 0;
      this.#serial[c] = this.#nextSerial++;
      this.#seqBits.set(masks.subarray(r * this.#words, (r + 1) * this.#words), c * this.#words);
    }
    return { cells, ...this.#gather(rows.positions, masks, cells) };
  }

  /** Frees cells claimed by a run that was aborted (nothing else changes). */
  release(cells: Int32Array): void {
    for (const c of cells) {
      if (c >= 0 && c < this.cells && this.#pos[c] !== FREE) this.#freeCell(c);
    }
  }

  /** Applies one KV op (O(cells)). */
  apply(op: KvOp): void {
    switch (op.op) {
      case "seq_rm": {
        if (op.seq >= 0) this.#checkSeq(op.seq, "seq_rm.seq");
        const [p0, p1] = range(op.p0, op.p1);
        for (let c = 0; c < this.cells; c++) {
          const pos = this.#pos[c] ?? FREE;
          if (pos === FREE || pos < p0 || pos >= p1) continue;
          if (op.seq < 0) this.#freeCell(c);
          else {
            this.#clearBit(c, op.seq);
            if (this.#isUntagged(c)) this.#freeCell(c);
          }
        }
        return;
      }
      case "seq_cp": {
        this.#checkSeq(op.src, "seq_cp.src");
        this.#checkSeq(op.dst, "seq_cp.dst");
        const [p0, p1] = range(op.p0, op.p1);
        for (let c = 0; c < this.cells; c++) {
          const pos = this.#pos[c] ?? FREE;
          if (pos === FREE || pos < p0 || pos >= p1 || !this.#hasBit(c, op.src)) continue;
          this.#setBit(c, op.dst);
        }
        return;
      }
      case "seq_keep": {
        this.#checkSeq(op.seq, "seq_keep.seq");
        for (let c = 0; c < this.cells; c++) {
          if (this.#pos[c] === FREE) continue;
          if (!this.#hasBit(c, op.seq)) this.#freeCell(c);
          else {
            this.#seqBits.fill(0, c * this.#words, (c + 1) * this.#words);
            this.#setBit(c, op.seq);
          }
        }
        return;
      }
      case "clear":
        for (let c = 0; c < this.cells; c++) if (this.#pos[c] !== FREE) this.#freeCell(c);
        return;
      default: {
        const never: never = op;
        throw new EngineError("ERR_BATCH_INVALID", `unknown KV op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Every used cell, by cell index (tests and debugging). */
  entries(): KvCellInfo[] {
    const out: KvCellInfo[] = [];
    for (let c = 0; c < this.cells; c++) {
      const pos = this.#pos[c] ?? FREE;
      if (pos === FREE) continue;
      const seqs: number[] = [];
      for (let s = 0; s < this.maxSeqs; s++) if (this.#hasBit(c, s)) seqs.push(s);
      out.push({ cell: c, pos, seqs, serial: this.#serial[c] ?? 0 });
    }
    return out;
  }

  // A row sees a cell iff the cell is older than or equal to the row's own (serial), at a position
  // <= the row's, and carries CANONICAL_SEQ or one of the row's ids. Among visible cells sharing a
  // position, only the newest counts. Lists come out sorted by position.
  #gather(positions: Int32Array, masks: Uint32Array, cells: Int32Array): Omit<KvClaim, "cells"> {
    const used: number[] = [];
    for (let c = 0; c < this.cells; c++) if (this.#pos[c] !== FREE) used.push(c);
    const pos = this.#pos;
    const serial = this.#serial;
    // By position ascending, then newest first, so the first visible cell of a position wins.
    used.sort((a, b) => (pos[a] ?? 0) - (pos[b] ?? 0) || (serial[b] ?? 0) - (serial[a] ?? 0));
    const n = positions.length;
    const offsets = new Int32Array(n + 1);
    const lists: Int32Array[] = [];
    const scratch = new Int32Array(used.length);
    for (let r = 0; r < n; r++) {
      const rowPos = positions[r] ?? 0;
      const rowSerial = serial[cells[r] ?? 0] ?? 0;
      const mo = r * this.#words;
      let count = 0;
      let lastPos = -1;
      for (const c of used) {
        const p = pos[c] ?? 0;
        if (p > rowPos) break;
        if (p === lastPos || (serial[c] ?? 0) > rowSerial) continue;
        if (!this.#visible(c, masks, mo)) continue;
        scratch[count++] = c;
        lastPos = p;
      }
      lists.push(scratch.slice(0, count));
      offsets[r + 1] = (offsets[r] ?? 0) + count;
    }
    const cellIdx = new Int32Array(offsets[n] ?? 0);
    for (let r = 0; r < n; r++) cellIdx.set(lists[r] ?? new Int32Array(0), offsets[r] ?? 0);
    return { offsets, cellIdx };
  }

  #visible(c: number, masks: Uint32Array, mo: number): boolean {
    const co = c * this.#words;
    if (((this.#seqBits[co] ?? 0) & (1 << CANONICAL_SEQ)) !== 0) return true;
    for (let w = 0; w < this.#words; w++) {
      if (((this.#seqBits[co + w] ?? 0) & (masks[mo + w] ?? 0)) !== 0) return true;
    }
    return false;
  }

  #maskOf(seqs: readonly number[], out: Uint32Array, at: number, where: string): void {
    if (seqs.length === 0) throw new EngineError("ERR_KV_SEQ", `${where}: no sequence ids`);
    for (const s of seqs) {
      this.#checkSeq(s, where);
      out[at + (s >>> 5)] = (out[at + (s >>> 5)] ?? 0) | (1 << (s & 31));
    }
  }

  #checkSeq(s: number, where: string): void {
    if (!Number.isInteger(s) || s < 0 || s >= this.maxSeqs) {
      throw new EngineError(
        "ERR_KV_SEQ",
        `${where}: sequence id ${s} outside 0..${this.maxSeqs - 1}`,
      );
    }
  }

  #hasBit(c: number, s: number): boolean {
    return ((this.#seqBits[c * this.#words + (s >>> 5)] ?? 0) & (1 << (s & 31))) !== 0;
  }

  #setBit(c: number, s: number): void {
    const i = c * this.#words + (s >>> 5);
    this.#seqBits[i] = (this.#seqBits[i] ?? 0) | (1 << (s & 31));
  }

  #clearBit(c: number, s: number): void {
    const i = c * this.#words + (s >>> 5);
    this.#seqBits[i] = (this.#seqBits[i] ?? 0) & ~(1 << (s & 31));
  }

  #isUntagged(c: number): boolean {
    for (let w = 0; w < this.#words; w++)
      if ((this.#seqBits[c * this.#words + w] ?? 0) !== 0) return false;
    return true;
  }

  #freeCell(c: number): void {
    this.#pos[c] = FREE;
    this.#serial[c] = 0;
    this.#seqBits.fill(0, c * this.#words, (c + 1) * this.#words);
    this.#free[this.#freeCount++] = c;
  }
}

/** Half-open [p0, p1) with p1 < 0 meaning "to the end" and p0 < 0 meaning "from the start". */
function range(p0: number, p1: number): [number, number] {
  return [Math.max(0, p0), p1 < 0 ? Number.POSITIVE_INFINITY : p1];
}
