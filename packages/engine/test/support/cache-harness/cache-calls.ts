// The calls the weight cache browser test makes, runnable in the page and in a dedicated worker: read a
// URL's range through a fresh WeightCache (OPFS, the Cache API, or the automatic pick) and report a hash
// of the bytes with the cache's counters; flip a byte in a stored OPFS piece; clear. Test-only.

import { browserCacheSupported, BrowserChunkStore } from "../../../src/cache/browser-cache.ts";
import { CacheApiChunkStore } from "../../../src/cache/cache-api-chunk-store.ts";
import { sha256Hex, type ChunkStore } from "../../../src/cache/chunk-store.ts";
import { OpfsChunkStore } from "../../../src/cache/opfs-chunk-store.ts";
import { WeightCache, type WeightCacheStats } from "../../../src/cache/weight-cache.ts";
import { HttpSource } from "../../../src/loader/http-source.ts";

export type StoreKind = "opfs" | "cache-api" | "auto";

export interface ReadReport {
  sha256: string;
  length: number;
  stats: WeightCacheStats;
  backend: string;
  usage: number;
}

function store(kind: StoreKind): ChunkStore {
  if (kind === "opfs") return new OpfsChunkStore();
  if (kind === "cache-api") return new CacheApiChunkStore();
  return new BrowserChunkStore();
}

export const CACHE_CALLS = {
  supported: (): Promise<boolean> => Promise.resolve(browserCacheSupported()),
  read: async (
    kind: StoreKind,
    url: string,
    offset: number,
    length: number,
  ): Promise<ReadReport> => {
    const s = store(kind);
    const cache = new WeightCache(s, { pieceBytes: 16 * 1024 });
    const bytes = await new HttpSource(url, { cache }).read(offset, length);
    const backend = s instanceof BrowserChunkStore ? await s.backend() : s.kind;
    return {
      sha256: await sha256Hex(bytes),
      length: bytes.byteLength,
      stats: { ...cache.stats },
      backend,
      usage: await cache.usage(),
    };
  },
  /** Flips one byte in the first stored OPFS piece; returns its file name. */
  corruptOpfsPiece: async (): Promise<string> => {
    const top = await navigator.storage.getDirectory();
    const v1 = await (await top.getDirectoryHandle("pipemesh-cache")).getDirectoryHandle("v1");
    for await (const key of (v1 as unknown as { keys(): AsyncIterable<string> }).keys()) {
      const entryDir = await v1.getDirectoryHandle(key);
      for await (const name of (entryDir as unknown as { keys(): AsyncIterable<string> }).keys()) {
        if (!name.endsWith(".bin")) continue;
        const handle = await entryDir.getFileHandle(name);
        const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
        bytes[7] = (bytes[7] ?? 0) ^ 0x01;
        const w = await handle.createWritable();
        await w.write(bytes);
        await w.close();
        return name;
      }
    }
    throw new Error("no stored piece");
  },
  clear: async (kind: StoreKind): Promise<void> => {
    await new WeightCache(store(kind)).clear();
  },
};

export type CacheCall = {
  [K in keyof typeof CACHE_CALLS]: { name: K; args: Parameters<(typeof CACHE_CALLS)[K]> };
}[keyof typeof CACHE_CALLS];
