// The weight cache's storage port: ChunkStore keeps, per cached source file, one metadata record (the
// source's identity and the verified pieces it holds) and the pieces' bytes. Implementations only store
// and fetch; eviction, quota, hashing and the read-through logic live in weight-cache.ts and
// cached-source.ts. Also the small helpers they share (SHA-256 via Web Crypto, piece names, quota errors).

import { EngineError } from "../errors.ts";

/** One stored piece of a source file: bytes [offset, offset + length) and their SHA-256 (hex). */
export interface CachePiece {
  offset: number;
  length: number;
  sha256: string;
}

/** Who a cached file is: a change of any field invalidates the entry. */
export interface SourceIdentity {
  url: string;
  /** Total size of the file in bytes. */
  size: number;
  /** The server's ETag, or null. */
  etag: string | null;
  /** A whole-file SHA-256 the server published (X-Linked-Etag), or null. */
  sha256: string | null;
  /** Last-Modified, used as the validator when there is no ETag; null when absent. */
  lastModified: string | null;
}

/** The metadata record of one cached source file. */
export interface CacheEntry extends SourceIdentity {
  /** Store key (hex, derived from the URL). */
  key: string;
  /** Verified pieces, sorted by offset, never overlapping. */
  pieces: CachePiece[];
  /** Milliseconds since the epoch of the last read through this entry. */
  lastUsed: number;
}

/** Storage of entries and pieces. Writes of a piece or an entry are all-or-nothing where the medium allows. */
export interface ChunkStore {
  /** "node", "opfs", "cache-api" or "memory" (for display). */
  readonly kind: string;
  getEntry(key: string): Promise<CacheEntry | undefined>;
  putEntry(entry: CacheEntry): Promise<void>;
  /** The piece's bytes, or undefined when missing; no verification here. */
  getPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
  ): Promise<Uint8Array | undefined>;
  /** Stores a piece's bytes; a full medium rejects with QuotaError. */
  putPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
    bytes: Uint8Array,
  ): Promise<void>;
  deletePiece(key: string, piece: Pick<CachePiece, "offset" | "length">): Promise<void>;
  /** Every entry whose record is readable. */
  list(): Promise<CacheEntry[]>;
  /** Removes an entry and its pieces; true if something was there. */
  remove(key: string): Promise<boolean>;
  clear(): Promise<void>;
  /** Bytes the medium can still take, when it can say (browser quota, free disk); else undefined. */
  available?(): Promise<number | undefined>;
}

/** A store medium ran out of room (DOMException QuotaExceededError, ENOSPC); weight-cache.ts turns it into ERR_CACHE_QUOTA. */
export class QuotaError extends Error {
  override readonly name = "QuotaError";
}

/** Whether an error from a storage API means "out of space". */
export function isQuotaFailure(e: unknown): boolean {
  if (e instanceof QuotaError) return true;
  const name = (e as { name?: unknown } | null)?.name;
  const code = (e as { code?: unknown } | null)?.code;
  return name === "QuotaExceededError" || code === "ENOSPC" || code === "EDQUOT";
}

/** File name of a piece inside its entry. */
export function pieceName(piece: Pick<CachePiece, "offset" | "length">): string {
  return `${piece.offset}-${piece.length}.bin`;
}

export function toHex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 (hex) via Web Crypto (browsers and Node 20). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const view =
    bytes.buffer instanceof ArrayBuffer
      ? (bytes as Uint8Array<ArrayBuffer>)
      : new Uint8Array(bytes);
  return toHex(await crypto.subtle.digest("SHA-256", view));
}

/** Store key of a URL (the fragment is not part of it). */
export async function cacheKey(url: string): Promise<string> {
  const clean = url.replace(/#.*$/, "");
  return (await sha256Hex(new TextEncoder().encode(clean))).slice(0, 32);
}

/** Bytes an entry's pieces hold. */
export function entryBytes(entry: Pick<CacheEntry, "pieces">): number {
  return entry.pieces.reduce((a, p) => a + p.length, 0);
}

/** Parses and checks a stored entry record; anything malformed is undefined (and is then discarded). */
export function parseEntry(text: string, key: string): CacheEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const e = v as Partial<CacheEntry> | null;
  const str = (x: unknown): boolean => x === null || typeof x === "string";
  const int = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (
    e === null ||
    typeof e !== "object" ||
    e.key !== key ||
    typeof e.url !== "string" ||
    !int(e.size) ||
    !str(e.etag) ||
    !str(e.sha256) ||
    !str(e.lastModified) ||
    typeof e.lastUsed !== "number" ||
    !Array.isArray(e.pieces)
  ) {
    return undefined;
  }
  let end = 0;
  for (const p of e.pieces as unknown[]) {
    const q = p as Partial<CachePiece> | null;
    if (
      q === null ||
      !int(q.offset) ||
      !int(q.length) ||
      q.length === 0 ||
      q.offset < end ||
      q.offset + q.length > e.size ||
      typeof q.sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(q.sha256)
    ) {
      return undefined;
    }
    end = q.offset + q.length;
  }
  return e as CacheEntry;
}

export function quotaError(needed: number, detail: string): EngineError {
  return new EngineError(
    "ERR_CACHE_QUOTA",
    `the weight cache needs ${needed} more bytes (${(needed / 1048576).toFixed(1)} MiB): ${detail}`,
  );
}
