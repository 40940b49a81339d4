// SeqPool: the free sequence ids of a draft KV cache (1 .. maxSeqs-1; 0 is the canonical sequence and never
// handed out). Lowest id first, so runs are deterministic. Bookkeeping only; no KV ops.

import { EngineError } from "../errors.ts";

export class SeqPool {
  readonly maxSeqs: number;
  #free: number[] = [];

  constructor(maxSeqs: number) {
    if (!Number.isInteger(maxSeqs) || maxSeqs < 2) {
      throw new EngineError("ERR_KV_SEQ", `a drafter needs maxSeqs >= 2, got ${maxSeqs}`);
    }
    this.maxSeqs = maxSeqs;
    this.reset();
  }

  /** Free ids, lowest first (a snapshot). */
  get free(): readonly number[] {
    return this.#free.slice().reverse();
  }

  get freeCount(): number {
    return this.#free.length;
  }

  /** Ids in use. */
  get usedCount(): number {
    return this.maxSeqs - 1 - this.#free.length;
  }

  /** Marks `seq` as taken (it must be free). */
  take(seq: number): void {
    const i = this.#free.lastIndexOf(seq);
    if (i < 0) throw new EngineError("ERR_INTERNAL", `sequence ${seq} is not free`);
    this.#free.splice(i, 1);
  }

  release(seq: number): void {
    if (seq <= 0 || seq >= this.maxSeqs || this.#free.includes(seq)) {
      throw new EngineError("ERR_INTERNAL", `sequence ${seq} released twice or out of range`);
    }
    this.#free.push(seq);
    this.#free.sort((a, b) => b - a);
  }

  reset(): void {
    this.#free = [];
    for (let s = this.maxSeqs - 1; s >= 1; s--) this.#free.push(s);
  }
}
