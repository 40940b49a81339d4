// The browser's weight cache: OPFS where the context has it, the Cache API where it does not, picked on
// first use (opening OPFS is asynchronous and can be refused, e.g. in some private modes); when neither
// works every read goes to the network and nothing is stored. openBrowserCache() is what the shard worker
// reads through; pages use the same call to show the cache's size and clear it.

import { CacheApiChunkStore } from "./cache-api-chunk-store.ts";
import type { CacheEntry, CachePiece, ChunkStore } from "./chunk-store.ts";
import { OpfsChunkStore } from "./opfs-chunk-store.ts";
import { WeightCache, type WeightCacheOptions } from "./weight-cache.ts";

type PieceRef = Pick<CachePiece, "offset" | "length">;

/** Stores nothing (every write fails as a plain error, which the cache counts and ignores). */
class NoStore implements ChunkStore {
  readonly kind = "none";
  getEntry(): Promise<CacheEntry | undefined> {
    return Promise.resolve(undefined);
  }
  putEntry(): Promise<void> {
    return Promise.reject(new Error("no browser storage for the weight cache"));
  }
  getPiece(): Promise<Uint8Array | undefined> {
    return Promise.resolve(undefined);
  }
  putPiece(): Promise<void> {
    return Promise.reject(new Error("no browser storage for the weight cache"));
  }
  deletePiece(): Promise<void> {
    return Promise.resolve();
  }
  list(): Promise<CacheEntry[]> {
    return Promise.resolve([]);
  }
  remove(): Promise<boolean> {
    return Promise.resolve(false);
  }
  clear(): Promise<void> {
    return Promise.resolve();
  }
}

async function pickStore(): Promise<ChunkStore> {
  if (OpfsChunkStore.supported()) {
    const opfs = new OpfsChunkStore();
    try {
      await opfs.list(); // opens the directory: throws where OPFS is present but refused
      return opfs;
    } catch {
      // fall through to the Cache API
    }
  }
  if (CacheApiChunkStore.supported()) {
    const api = new CacheApiChunkStore();
    try {
      await api.list();
      return api;
    } catch {
      // no usable storage
    }
  }
  return new NoStore();
}

/** A ChunkStore that resolves to OPFS, the Cache API or nothing on first use. */
export class BrowserChunkStore implements ChunkStore {
  #store: Promise<ChunkStore> | undefined;

  get kind(): string {
    return "browser";
  }

  /** The store actually in use: "opfs", "cache-api" or "none". */
  async backend(): Promise<string> {
    return (await this.#get()).kind;
  }

  #get(): Promise<ChunkStore> {
    this.#store ??= pickStore();
    return this.#store;
  }

  async getEntry(key: string): Promise<CacheEntry | undefined> {
    return (await this.#get()).getEntry(key);
  }
  async putEntry(entry: CacheEntry): Promise<void> {
    return (await this.#get()).putEntry(entry);
  }
  async getPiece(key: string, piece: PieceRef): Promise<Uint8Array | undefined> {
    return (await this.#get()).getPiece(key, piece);
  }
  async putPiece(key: string, piece: PieceRef, bytes: Uint8Array): Promise<void> {
    return (await this.#get()).putPiece(key, piece, bytes);
  }
  async deletePiece(key: string, piece: PieceRef): Promise<void> {
    return (await this.#get()).deletePiece(key, piece);
  }
  async list(): Promise<CacheEntry[]> {
    return (await this.#get()).list();
  }
  async remove(key: string): Promise<boolean> {
    return (await this.#get()).remove(key);
  }
  async clear(): Promise<void> {
    return (await this.#get()).clear();
  }
  async available(): Promise<number | undefined> {
    return (await (await this.#get()).available?.()) ?? undefined;
  }
}

/** Whether this browser context can keep a weight cache at all. */
export function browserCacheSupported(): boolean {
  return OpfsChunkStore.supported() || CacheApiChunkStore.supported();
}

/** The browser weight cache (OPFS, else the Cache API), or undefined where neither exists. */
export function openBrowserCache(options: WeightCacheOptions = {}): WeightCache | undefined {
  return browserCacheSupported() ? new WeightCache(new BrowserChunkStore(), options) : undefined;
}
