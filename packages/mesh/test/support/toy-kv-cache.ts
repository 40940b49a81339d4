// ToyKvCache: a test double of a shard's KV cache with exactly the semantics of docs/architecture.md
// ("KV cache semantics"): cells with position, sequence-id set and write serial; a row sees cells at
// positions <= its own that carry seq 0 or one of its ids and are not newer than its own cell; among
// visible duplicates at one position only the newest counts; seq_rm/seq_cp/seq_keep/clear; aborted runs
// free what they claimed; running out of cells is ERR_KV_FULL. Stores one toy key per layer per cell.

import type { StageKvOp } from "../../src/ports.ts";

export type ToyErrorCode = "ERR_KV_FULL" | "ERR_KV_SEQ" | "ERR_ABORTED" | "ERR_BATCH_INVALID";

/** The toy stand-in for an EngineError crossing a stage boundary. */
export class ToyStageError extends Error {
  override readonly name = "ToyStageError";
  readonly code: ToyErrorCode;
  constructor(code: ToyErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface ToyCell {
  pos: number;
  seqs: Set<number>;
  serial: number;
  /** [layers of the shard] the toy key each layer stored for this token. */
  keys: Int32Array;
}

export interface ToyCellInfo {
  cell: number;
  pos: number;
  seqs: number[];
  serial: number;
}

export class ToyKvCache {
  readonly capacity: number;
  readonly maxSeqs: number;
  readonly layers: number;
  #cells: (ToyCell | null)[];
  #nextSerial = 1;

  constructor(options: { capacity: number; maxSeqs: number; layers: number }) {
    this.capacity = options.capacity;
    this.maxSeqs = options.maxSeqs;
    this.layers = options.layers;
    this.#cells = new Array<ToyCell | null>(options.capacity).fill(null);
  }

  used(): number {
    return this.#cells.reduce((n, c) => n + (c === null ? 0 : 1), 0);
  }

  cell(index: number): ToyCell {
    const c = this.#cells[index];
    if (c === undefined || c === null) throw new Error(`toy cell ${index} is free`);
    return c;
  }

  /**
   * Claims one cell per row (all checks first), serials in row order, and returns each row's gather list:
   * the visible cells sorted by position, one (the newest) per position, earlier rows of the batch included.
   */
  claim(
    positions: Int32Array,
    seqIds: readonly (readonly number[])[],
  ): {
    cells: number[];
    gather: number[][];
  } {
    const n = positions.length;
    if (seqIds.length !== n) {
      throw new ToyStageError("ERR_BATCH_INVALID", `${n} positions, ${seqIds.length} seqIds`);
    }
    for (let r = 0; r < n; r++) {
      const ids = seqIds[r] ?? [];
      if (ids.length === 0) throw new ToyStageError("ERR_KV_SEQ", `row ${r}: no sequence ids`);
      for (const s of ids) this.#checkSeq(s, `row ${r}`);
    }
    const free: number[] = [];
    for (let c = 0; c < this.capacity && free.length < n; c++)
      if (this.#cells[c] === null) free.push(c);
    if (free.length < n) {
      throw new ToyStageError(
        "ERR_KV_FULL",
        `a run of ${n} rows needs ${n} free cells; ${this.capacity - this.used()} of ${this.capacity} free`,
      );
    }
    const cells: number[] = [];
    for (let r = 0; r < n; r++) {
      const c = free[r]!;
      this.#cells[c] = {
        pos: positions[r]!,
        seqs: new Set(seqIds[r]),
        serial: this.#nextSerial++,
        keys: new Int32Array(this.layers),
      };
      cells.push(c);
    }
    const gather = cells.map((own) => this.#gather(this.cell(own)));
    return { cells, gather };
  }

  /** Frees the cells an aborted run claimed; nothing else changes. */
  release(cells: readonly number[]): void {
    for (const c of cells) this.#cells[c] = null;
  }

  apply(op: StageKvOp): void {
    switch (op.op) {
      case "seq_rm": {
        if (op.seq >= 0) this.#checkSeq(op.seq, "seq_rm");
        this.#forRange(op.p0, op.p1, (cell, i) => {
          if (op.seq < 0) this.#cells[i] = null;
          else {
            cell.seqs.delete(op.seq);
            if (cell.seqs.size === 0) this.#cells[i] = null;
          }
        });
        return;
      }
      case "seq_cp":
        this.#checkSeq(op.src, "seq_cp.src");
        this.#checkSeq(op.dst, "seq_cp.dst");
        this.#forRange(op.p0, op.p1, (cell) => {
          if (cell.seqs.has(op.src)) cell.seqs.add(op.dst);
        });
        return;
      case "seq_keep":
        this.#checkSeq(op.seq, "seq_keep");
        this.#forRange(0, -1, (cell, i) => {
          if (!cell.seqs.has(op.seq)) this.#cells[i] = null;
          else cell.seqs = new Set([op.seq]);
        });
        return;
      case "clear":
        this.#cells.fill(null);
        return;
      default: {
        const never: never = op;
        throw new ToyStageError("ERR_BATCH_INVALID", `unknown KV op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Used cells by index (tests). */
  entries(): ToyCellInfo[] {
    const out: ToyCellInfo[] = [];
    this.#cells.forEach((c, i) => {
      if (c !== null)
        out.push({
          cell: i,
          pos: c.pos,
          seqs: [...c.seqs].sort((a, b) => a - b),
          serial: c.serial,
        });
    });
    return out;
  }

  /** Cells visible to a row at `pos` with `seqs` (newest per position), by position (tests). */
  visible(pos: number, seqs: readonly number[]): ToyCellInfo[] {
    const probe: ToyCell = {
      pos,
      seqs: new Set(seqs),
      serial: Number.MAX_SAFE_INTEGER,
      keys: new Int32Array(0),
    };
    return this.#gather(probe).map((i) => {
      const c = this.cell(i);
      return { cell: i, pos: c.pos, seqs: [...c.seqs].sort((a, b) => a - b), serial: c.serial };
    });
  }

  #gather(row: ToyCell): number[] {
    const best = new Map<number, number>(); // pos -> cell index of the newest visible cell
    const rowSeqs = [...row.seqs];
    this.#cells.forEach((c, i) => {
      if (c === null || c.pos > row.pos || c.serial > row.serial) return;
      if (!c.seqs.has(0) && !rowSeqs.some((s) => c.seqs.has(s))) return;
      const prev = best.get(c.pos);
      if (prev === undefined || this.cell(prev).serial < c.serial) best.set(c.pos, i);
    });
    return [...best.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }

  #forRange(p0: number, p1: number, fn: (cell: ToyCell, index: number) => void): void {
    const lo = Math.max(0, p0);
    const hi = p1 < 0 ? Number.POSITIVE_INFINITY : p1;
    this.#cells.forEach((c, i) => {
      if (c !== null && c.pos >= lo && c.pos < hi) fn(c, i);
    });
  }

  #checkSeq(s: number, where: string): void {
    if (!Number.isInteger(s) || s < 0 || s >= this.maxSeqs) {
      throw new ToyStageError(
        "ERR_KV_SEQ",
        `${where}: sequence id ${s} outside 0..${this.maxSeqs - 1}`,
      );
    }
  }
}
