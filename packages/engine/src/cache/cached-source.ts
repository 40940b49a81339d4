// CachedSource: a ByteSource that reads through a WeightCache. It fetches only the bytes a caller asks
// for that the cache lacks (no rounding up to a chunk grid), stores them as pieces of at most
// cache.pieceBytes with a SHA-256 each, committing every piece as it arrives (so a cut download resumes
// where it stopped), and serves later reads from verified pieces; a piece whose hash no longer matches is
// discarded and fetched again. Each instance revalidates its entry once, against the inner source's
// identity (HEAD: size, ETag, X-Linked-Etag, Last-Modified); any change drops the entry. A source without
// a validator (no ETag, hash or Last-Modified) is read straight through, never cached.

import { checkRange, throwIfAborted, type ByteSource } from "../loader/byte-source.ts";
import {
  cacheKey,
  sha256Hex,
  type CacheEntry,
  type CachePiece,
  type SourceIdentity,
} from "./chunk-store.ts";
import type { WeightCache } from "./weight-cache.ts";

/** What a source must offer to be cached: its identity, and optionally a streamed read. */
export interface IdentifiedSource extends ByteSource {
  identity(signal?: AbortSignal): Promise<SourceIdentity>;
  /**
   * Reads [offset, offset + length) in one request and hands over consecutive pieces of at most
   * `pieceBytes` as they arrive (awaiting each), so pieces before a failure are kept.
   */
  readPieces?(
    offset: number,
    length: number,
    pieceBytes: number,
    onPiece: (offset: number, bytes: Uint8Array) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void>;
}

interface Opened {
  identity: SourceIdentity;
  /** Null: not cacheable (no validator); reads go straight to the inner source. */
  key: string | null;
}

function sameSource(e: CacheEntry, id: SourceIdentity): boolean {
  return (
    e.url === id.url &&
    e.size === id.size &&
    e.etag === id.etag &&
    e.sha256 === id.sha256 &&
    (id.etag !== null || id.sha256 !== null || e.lastModified === id.lastModified)
  );
}

/** Inserts a piece into sorted, non-overlapping pieces; false when it overlaps one already there. */
function insertPiece(pieces: CachePiece[], p: CachePiece): boolean {
  let i = 0;
  while (i < pieces.length && (pieces[i]?.offset ?? 0) < p.offset) i++;
  const before = pieces[i - 1];
  const after = pieces[i];
  if (before !== undefined && before.offset + before.length > p.offset) return false;
  if (after !== undefined && p.offset + p.length > after.offset) return false;
  pieces.splice(i, 0, p);
  return true;
}

export class CachedSource implements ByteSource {
  readonly location: string;
  readonly inner: IdentifiedSource;
  readonly cache: WeightCache;
  #opened: Promise<Opened> | undefined;

  constructor(inner: IdentifiedSource, cache: WeightCache) {
    this.inner = inner;
    this.cache = cache;
    this.location = inner.location;
  }

  async size(signal?: AbortSignal): Promise<number> {
    return (await this.#open(signal)).identity.size;
  }

  /** Whether this source is cached (known after the first size() or read()). */
  async cacheable(signal?: AbortSignal): Promise<boolean> {
    return (await this.#open(signal)).key !== null;
  }

  #open(signal: AbortSignal | undefined): Promise<Opened> {
    if (this.#opened === undefined) {
      const p = this.#revalidate(signal);
      this.#opened = p;
      p.catch(() => {
        if (this.#opened === p) this.#opened = undefined; // a failed check may be retried
      });
    }
    return this.#opened;
  }

  async #revalidate(signal: AbortSignal | undefined): Promise<Opened> {
    const identity = await this.inner.identity(signal);
    if (identity.etag === null && identity.sha256 === null && identity.lastModified === null) {
      return { identity, key: null };
    }
    const key = await cacheKey(identity.url);
    const cache = this.cache;
    cache.stats.revalidations += 1;
    await cache.lock(key, async () => {
      let entry = await cache.store.getEntry(key).catch(() => undefined);
      if (entry !== undefined && !sameSource(entry, identity)) {
        cache.stats.invalidations += 1;
        await cache.store.remove(key).catch(() => false);
        entry = undefined;
      }
      const next: CacheEntry = entry ?? { ...identity, key, pieces: [], lastUsed: 0 };
      next.lastUsed = cache.now();
      await cache.store.putEntry(next).catch(() => {
        cache.stats.writeErrors += 1;
      });
    });
    return { identity, key };
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal, `reading ${this.location}`);
    const opened = await this.#open(signal);
    checkRange(this.location, offset, length, opened.identity.size);
    if (length === 0) return new Uint8Array(0);
    const key = opened.key;
    if (key === null) return this.inner.read(offset, length, signal);
    const release = this.cache.hold(key);
    try {
      return await this.#readCached(key, opened.identity, offset, length, signal);
    } finally {
      release();
    }
  }

  async #readCached(
    key: string,
    identity: SourceIdentity,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const cache = this.cache;
    const end = offset + length;
    const out = new Uint8Array(length);
    const entry = await cache.store.getEntry(key).catch(() => undefined);
    const covered: [number, number][] = [];
    const bad: CachePiece[] = [];
    if (entry !== undefined && sameSource(entry, identity)) {
      for (const p of entry.pieces) {
        if (p.offset + p.length <= offset || p.offset >= end) continue;
        const bytes = await cache.store.getPiece(key, p).catch(() => undefined);
        if (
          bytes === undefined ||
          bytes.byteLength !== p.length ||
          (await sha256Hex(bytes)) !== p.sha256
        ) {
          bad.push(p);
          continue;
        }
        const from = Math.max(offset, p.offset);
        const to = Math.min(end, p.offset + p.length);
        out.set(bytes.subarray(from - p.offset, to - p.offset), from - offset);
        covered.push([from, to]);
        cache.stats.hitBytes += to - from;
      }
    }
    if (bad.length > 0) await this.#discard(key, bad);
    const gaps: [number, number][] = [];
    let pos = offset;
    for (const [from, to] of covered) {
      if (from > pos) gaps.push([pos, from]);
      pos = Math.max(pos, to);
    }
    if (pos < end) gaps.push([pos, end]);
    if (gaps.length === 0) return out;

    const need = gaps.reduce((a, [s, e]) => a + e - s, 0);
    const unreserve = await cache.reserve(key, need, identity.url);
    try {
      const onPiece = async (at: number, bytes: Uint8Array): Promise<void> => {
        out.set(bytes, at - offset);
        cache.stats.fetchedBytes += bytes.byteLength;
        await this.#commit(key, identity, at, bytes);
      };
      for (const [s, e] of gaps) {
        throwIfAborted(signal, `reading ${this.location}`);
        if (this.inner.readPieces !== undefined) {
          await this.inner.readPieces(s, e - s, cache.pieceBytes, onPiece, signal);
        } else {
          for (let at = s; at < e; at += cache.pieceBytes) {
            await onPiece(
              at,
              await this.inner.read(at, Math.min(cache.pieceBytes, e - at), signal),
            );
          }
        }
      }
    } finally {
      unreserve();
    }
    return out;
  }

  /** Stores one fetched piece and records it in the entry (the record is written after the bytes). */
  async #commit(
    key: string,
    identity: SourceIdentity,
    at: number,
    bytes: Uint8Array,
  ): Promise<void> {
    const cache = this.cache;
    const piece: CachePiece = {
      offset: at,
      length: bytes.byteLength,
      sha256: await sha256Hex(bytes),
    };
    if (!(await cache.writePiece(key, piece, bytes, identity.url))) return;
    await cache.lock(key, async () => {
      let entry = await cache.store.getEntry(key).catch(() => undefined);
      if (entry !== undefined && !sameSource(entry, identity)) return; // replaced meanwhile: drop ours
      entry ??= { ...identity, key, pieces: [], lastUsed: cache.now() };
      const same = entry.pieces.find((p) => p.offset === at && p.length === piece.length);
      if (same !== undefined) {
        same.sha256 = piece.sha256; // the same file name was just rewritten with these bytes
      } else if (!insertPiece(entry.pieces, piece)) {
        await cache.store.deletePiece(key, piece).catch(() => undefined);
        return;
      }
      await cache.store.putEntry(entry).catch(() => {
        cache.stats.writeErrors += 1;
      });
    });
  }

  async #discard(key: string, bad: readonly CachePiece[]): Promise<void> {
    const cache = this.cache;
    cache.stats.corruptPieces += bad.length;
    await cache.lock(key, async () => {
      const entry = await cache.store.getEntry(key).catch(() => undefined);
      if (entry === undefined) return;
      const drop = (p: CachePiece): boolean =>
        bad.some((b) => b.offset === p.offset && b.length === p.length && b.sha256 === p.sha256);
      const gone = entry.pieces.filter(drop);
      entry.pieces = entry.pieces.filter((p) => !drop(p));
      await cache.store.putEntry(entry).catch(() => {
        cache.stats.writeErrors += 1;
      });
      for (const p of gone) await cache.store.deletePiece(key, p).catch(() => undefined);
    });
  }
}
