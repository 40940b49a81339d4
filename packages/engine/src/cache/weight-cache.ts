// WeightCache: the policy over a ChunkStore that CachedSource reads through. It serializes metadata
// updates per entry, keeps a byte limit (maxBytes) by evicting least-recently-used entries before it gives
// up with ERR_CACHE_QUOTA (naming the bytes needed), maps a full medium to the same error, and counts hits
// and fetched bytes so callers can say "loaded from cache". Not a ByteSource and not a store itself.

import {
  entryBytes,
  isQuotaFailure,
  quotaError,
  type CacheEntry,
  type CachePiece,
  type ChunkStore,
} from "./chunk-store.ts";

/** Default largest piece: reads are stored in pieces of at most this many bytes, each with its hash. */
export const DEFAULT_PIECE_BYTES = 4 * 1024 * 1024;

export interface WeightCacheOptions {
  /** Most bytes of pieces the cache may hold (default: no limit beyond the medium's). */
  maxBytes?: number | undefined;
  /** Largest piece (default 4 MiB). */
  pieceBytes?: number | undefined;
  /** Clock for lastUsed (tests). */
  now?: (() => number) | undefined;
}

/** Counters since the cache was opened (this process or worker only). */
export interface WeightCacheStats {
  /** Bytes served from verified pieces. */
  hitBytes: number;
  /** Bytes fetched from the network (and stored). */
  fetchedBytes: number;
  /** Sources checked against their entry (one HEAD each). */
  revalidations: number;
  /** Entries dropped because the source changed (ETag, size, ...). */
  invalidations: number;
  /** Stored pieces whose hash no longer matched (discarded and fetched again). */
  corruptPieces: number;
  evictedEntries: number;
  evictedBytes: number;
  /** Piece or record writes that failed for a reason other than space (the read still succeeds). */
  writeErrors: number;
}

export class WeightCache {
  readonly store: ChunkStore;
  readonly maxBytes: number;
  readonly pieceBytes: number;
  readonly stats: WeightCacheStats = {
    hitBytes: 0,
    fetchedBytes: 0,
    revalidations: 0,
    invalidations: 0,
    corruptPieces: 0,
    evictedEntries: 0,
    evictedBytes: 0,
    writeErrors: 0,
  };
  readonly #now: () => number;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Entries with reads in progress in this process: never evicted. */
  readonly #active = new Map<string, number>();
  /** Bytes promised to reads in progress but not yet recorded in entries. */
  #reserved = 0;

  constructor(store: ChunkStore, options: WeightCacheOptions = {}) {
    this.store = store;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.pieceBytes = Math.max(1, Math.floor(options.pieceBytes ?? DEFAULT_PIECE_BYTES));
    this.#now = options.now ?? Date.now;
  }

  now(): number {
    return this.#now();
  }

  /** Runs `f` alone among callers locking the same name (per entry key, or "*" for eviction). */
  async lock<T>(name: string, f: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    const run = prev.then(f, f);
    const tail = run.catch(() => undefined);
    this.#locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    }
  }

  /** Marks an entry in use (not evictable) until the returned function is called. */
  hold(key: string): () => void {
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#active.get(key) ?? 1) - 1;
      if (n <= 0) this.#active.delete(key);
      else this.#active.set(key, n);
    };
  }

  /** Entries, most recently used first. */
  async list(): Promise<CacheEntry[]> {
    return (await this.store.list()).sort((a, b) => b.lastUsed - a.lastUsed);
  }

  /** Bytes held by all entries' pieces. */
  async usage(): Promise<number> {
    return (await this.store.list()).reduce((a, e) => a + entryBytes(e), 0);
  }

  async remove(key: string): Promise<boolean> {
    return this.lock(key, () => this.store.remove(key));
  }

  async clear(): Promise<void> {
    await this.lock("*", () => this.store.clear());
  }

  /**
   * Makes room for `bytes` more for entry `key`: counts them against maxBytes and the medium's free space,
   * evicting least-recently-used entries not in use; ERR_CACHE_QUOTA when that is not enough. Returns the
   * release function of the reservation (call it once the bytes are written or abandoned).
   */
  async reserve(key: string, bytes: number, url: string): Promise<() => void> {
    if (bytes <= 0) return () => undefined;
    await this.lock("*", async () => {
      const entries = await this.list();
      let used = entries.reduce((a, e) => a + entryBytes(e), 0) + this.#reserved;
      const avail = (await this.store.available?.()) ?? Number.POSITIVE_INFINITY;
      let freed = 0;
      const fits = (): boolean =>
        used + bytes <= this.maxBytes && bytes <= avail - this.#reserved + freed;
      const victims = entries
        .filter((e) => e.key !== key && !this.#active.has(e.key))
        .sort((a, b) => a.lastUsed - b.lastUsed);
      while (!fits()) {
        const v = victims.shift();
        if (v === undefined) {
          const limit = Number.isFinite(this.maxBytes) ? `limit ${this.maxBytes} bytes, ` : "";
          const free = Number.isFinite(avail)
            ? `, ${Math.max(0, avail - this.#reserved)} bytes free on the medium`
            : "";
          throw quotaError(
            Math.max(
              used + bytes - this.maxBytes,
              bytes - (avail - this.#reserved + freed),
              bytes > 0 ? 1 : 0,
            ),
            `${bytes} bytes to store for ${url}; ${used} bytes in use (${limit}nothing left to evict${free})`,
          );
        }
        if (await this.#evict(v)) {
          used -= entryBytes(v);
          freed += entryBytes(v);
        }
      }
      this.#reserved += bytes;
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#reserved -= bytes;
    };
  }

  async #evict(entry: CacheEntry): Promise<boolean> {
    const removed = await this.lock(entry.key, () => this.store.remove(entry.key)).catch(
      () => false,
    );
    if (removed) {
      this.stats.evictedEntries += 1;
      this.stats.evictedBytes += entryBytes(entry);
    }
    return removed;
  }

  /**
   * Writes a piece's bytes; a full medium evicts other unused entries (least recently used first) and
   * tries once more, then rejects with ERR_CACHE_QUOTA. Other write failures resolve false.
   */
  async writePiece(
    key: string,
    piece: CachePiece,
    bytes: Uint8Array,
    url: string,
  ): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.putPiece(key, piece, bytes);
        return true;
      } catch (e) {
        if (!isQuotaFailure(e)) {
          this.stats.writeErrors += 1;
          return false;
        }
        await this.store.deletePiece(key, piece).catch(() => undefined);
        // One least-recently-used entry per attempt.
        const victim = (await this.list())
          .filter((v) => v.key !== key && !this.#active.has(v.key))
          .pop();
        const evicted = victim !== undefined && (await this.#evict(victim));
        if (!evicted || attempt >= 8) {
          throw quotaError(
            piece.length,
            `the storage medium is full while storing bytes ${piece.offset}..${piece.offset + piece.length} of ${url}`,
          );
        }
      }
    }
  }
}
