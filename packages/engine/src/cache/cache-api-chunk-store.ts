// CacheApiChunkStore: the weight cache's ChunkStore in the Cache API, for browsers without OPFS. Each
// piece and each entry record is one whole 200 Response under a synthetic URL
// (https://pipemesh-cache.invalid/v1/<key>/<file>), never the server's 206 answers. Browser-only.

import {
  parseEntry,
  pieceName,
  type CacheEntry,
  type CachePiece,
  type ChunkStore,
} from "./chunk-store.ts";

const CACHE_NAME = "pipemesh-weights-v1";
const BASE = "https://pipemesh-cache.invalid/v1/";
const ENTRY_FILE = "entry.json";

export class CacheApiChunkStore implements ChunkStore {
  readonly kind = "cache-api";

  static supported(): boolean {
    return typeof (globalThis as { caches?: { open?: unknown } }).caches?.open === "function";
  }

  #url(key: string, name: string): string {
    if (!/^[0-9a-f]+$/.test(key)) throw new Error(`bad cache key ${key}`);
    return `${BASE}${key}/${name}`;
  }

  #open(): Promise<Cache> {
    return caches.open(CACHE_NAME);
  }

  async #put(key: string, name: string, bytes: Uint8Array, type: string): Promise<void> {
    const body =
      bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
    const res = new Response(body, {
      status: 200,
      headers: { "content-type": type, "content-length": String(bytes.byteLength) },
    });
    await (await this.#open()).put(this.#url(key, name), res);
  }

  async getEntry(key: string): Promise<CacheEntry | undefined> {
    const res = await (await this.#open()).match(this.#url(key, ENTRY_FILE));
    return res === undefined ? undefined : parseEntry(await res.text(), key);
  }

  putEntry(entry: CacheEntry): Promise<void> {
    const text = new TextEncoder().encode(JSON.stringify(entry));
    return this.#put(entry.key, ENTRY_FILE, text, "application/json");
  }

  async getPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
  ): Promise<Uint8Array | undefined> {
    const res = await (await this.#open()).match(this.#url(key, pieceName(piece)));
    return res === undefined ? undefined : new Uint8Array(await res.arrayBuffer());
  }

  putPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
    bytes: Uint8Array,
  ): Promise<void> {
    return this.#put(key, pieceName(piece), bytes, "application/octet-stream");
  }

  async deletePiece(key: string, piece: Pick<CachePiece, "offset" | "length">): Promise<void> {
    await (await this.#open()).delete(this.#url(key, pieceName(piece)));
  }

  async list(): Promise<CacheEntry[]> {
    const cache = await this.#open();
    const out: CacheEntry[] = [];
    for (const req of await cache.keys()) {
      const m = /\/v1\/([0-9a-f]+)\/entry\.json$/.exec(req.url);
      if (m?.[1] === undefined) continue;
      const e = await this.getEntry(m[1]).catch(() => undefined);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  async remove(key: string): Promise<boolean> {
    const cache = await this.#open();
    const prefix = this.#url(key, "");
    let any = false;
    for (const req of await cache.keys()) {
      if (req.url.startsWith(prefix)) any = (await cache.delete(req)) || any;
    }
    return any;
  }

  async clear(): Promise<void> {
    await caches.delete(CACHE_NAME);
  }

  async available(): Promise<number | undefined> {
    const est = await navigator.storage?.estimate?.().catch(() => undefined);
    if (est?.quota === undefined) return undefined;
    return Math.max(0, est.quota - (est.usage ?? 0));
  }
}
