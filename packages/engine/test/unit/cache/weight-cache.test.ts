// The weight cache against a local Range server that counts bytes, with the Node store in a temp dir: a
// second load fetches no weight bytes (one HEAD), partly cached reads fetch only the gaps, a cut download
// resumes without refetching its stored pieces, a flipped byte in a stored piece is refetched, a changed
// ETag or size invalidates, a full cache is ERR_CACHE_QUOTA naming the bytes, eviction is least recently
// used first, concurrent reads agree, and a real shard loads through the cache with the uncached bytes.

import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cacheKey } from "../../../src/cache/chunk-store.ts";
import { WeightCache, type WeightCacheOptions } from "../../../src/cache/weight-cache.ts";
import { isEngineError } from "../../../src/errors.ts";
import { HttpModelDir, HttpSource } from "../../../src/loader/http-source.ts";
import { loadShardWeights } from "../../../src/loader/load-weights.ts";
import { loadModelConfig } from "../../../src/loader/model-files.ts";
import { defaultCacheDir, openCachedModelDir } from "../../../src/node/cache-dir.ts";
import { FileModelDir } from "../../../src/node/file-source.ts";
import { NodeChunkStore } from "../../../src/node/node-chunk-store.ts";
import { FIXTURES_DIR, modelFixtureDir } from "../../fixtures/fixtures.ts";
import { startRangeServer, type RangeServer } from "../../support/range-server.ts";

const PIECE = 1024;
let server: RangeServer;
let dir: string;

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function openCache(options: WeightCacheOptions = {}): WeightCache {
  return new WeightCache(new NodeChunkStore(dir), { pieceBytes: PIECE, ...options });
}

beforeAll(async () => {
  server = await startRangeServer({ dir: FIXTURES_DIR });
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pipemesh-cache-test-"));
  server.reset();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("weight cache (Node store)", () => {
  it("a second load of the same range fetches no weight bytes, only a HEAD", async () => {
    const file = randomBytes(64 * 1024, 1);
    const url = server.setFile("/w/a.bin", file);
    const first = await new HttpSource(url, { cache: openCache() }).read(1000, 10_000);
    expect(first).toEqual(file.slice(1000, 11_000));
    expect(server.bodyBytes()).toBe(10_000); // exactly the range: no rounding to a piece grid
    server.reset();

    const cache = openCache(); // as a new process would
    const again = await new HttpSource(url, { cache }).read(1000, 10_000);
    expect(again).toEqual(first);
    expect(server.bodyBytes()).toBe(0);
    expect(server.heads()).toBe(1);
    expect(cache.stats.hitBytes).toBe(10_000);
    expect(cache.stats.fetchedBytes).toBe(0);
  });

  it("a partly cached read fetches only the missing bytes", async () => {
    const file = randomBytes(32 * 1024, 2);
    const url = server.setFile("/w/b.bin", file);
    const src = new HttpSource(url, { cache: openCache() });
    await src.read(0, 5000);
    await src.read(12_000, 3000);
    server.reset();
    expect(await src.read(3000, 14_000)).toEqual(file.slice(3000, 17_000));
    // Gaps: 5000..12000 and 15000..17000.
    expect(server.bodyBytes()).toBe(7000 + 2000);
    expect(server.served.filter((s) => s.method === "GET").map((s) => s.range)).toEqual([
      "bytes=5000-11999",
      "bytes=15000-16999",
    ]);
  });

  it("a download cut halfway resumes without refetching the pieces it stored", async () => {
    const file = randomBytes(16 * 1024, 3);
    const url = server.setFile("/w/c.bin", file);
    server.cutNextGetAfter(5 * PIECE + 512);
    await expect(
      new HttpSource(url, { cache: openCache() }).read(0, file.length),
    ).rejects.toSatisfy(
      (e) => isEngineError(e, "ERR_FETCH") || isEngineError(e, "ERR_WEIGHTS_TRUNCATED"),
    );
    server.reset();
    const cache = openCache();
    expect(await new HttpSource(url, { cache }).read(0, file.length)).toEqual(file);
    expect(server.bodyBytes()).toBe(file.length - 5 * PIECE);
    expect(cache.stats.hitBytes).toBe(5 * PIECE);
  });

  it("a flipped byte in a stored piece is detected, discarded and fetched again", async () => {
    const file = randomBytes(8 * 1024, 4);
    const url = server.setFile("/w/d.bin", file);
    await new HttpSource(url, { cache: openCache() }).read(0, file.length);
    const entryDir = join(dir, "v1", await cacheKey(url));
    const piece = join(entryDir, `${3 * PIECE}-${PIECE}.bin`);
    const bytes = await readFile(piece);
    bytes[100] = (bytes[100] ?? 0) ^ 0x40;
    await writeFile(piece, bytes);
    server.reset();

    const cache = openCache();
    expect(await new HttpSource(url, { cache }).read(0, file.length)).toEqual(file);
    expect(cache.stats.corruptPieces).toBe(1);
    expect(server.bodyBytes()).toBe(PIECE);
    server.reset();
    expect(await new HttpSource(url, { cache: openCache() }).read(0, file.length)).toEqual(file);
    expect(server.bodyBytes()).toBe(0);
  });

  it("a changed ETag or size invalidates the entry", async () => {
    const v1 = randomBytes(4096, 5);
    const url = server.setFile("/w/e.bin", v1, '"v1"');
    await new HttpSource(url, { cache: openCache() }).read(0, 4096);

    const v2 = randomBytes(4096, 6);
    server.setFile("/w/e.bin", v2, '"v2"');
    server.reset();
    const cache = openCache();
    expect(await new HttpSource(url, { cache }).read(0, 4096)).toEqual(v2);
    expect(cache.stats.invalidations).toBe(1);
    expect(server.bodyBytes()).toBe(4096);

    const v3 = randomBytes(5000, 7);
    server.setFile("/w/e.bin", v3, '"v2"'); // same ETag, new size
    server.reset();
    const cache3 = openCache();
    expect(await new HttpSource(url, { cache: cache3 }).read(0, 4096)).toEqual(v3.slice(0, 4096));
    expect(cache3.stats.invalidations).toBe(1);
    expect(server.bodyBytes()).toBe(4096);
  });

  it("a file replaced between the HEAD and the download is an error, and nothing of it is stored", async () => {
    const url = server.setFile("/w/h.bin", randomBytes(4096, 50), '"h1"');
    const cache = openCache();
    const src = new HttpSource(url, { cache });
    await src.size(); // identified as "h1"
    server.setFile("/w/h.bin", randomBytes(4096, 51), '"h2"');
    const err = await src.read(0, 4096).catch((e: unknown) => e);
    expect(isEngineError(err, "ERR_FETCH")).toBe(true);
    expect((err as Error).message).toContain("changed");
    expect((await cache.list()).flatMap((e) => e.pieces)).toEqual([]);
  });

  it("a full cache with nothing to evict is ERR_CACHE_QUOTA naming the bytes, before any download", async () => {
    const url = server.setFile("/w/f.bin", randomBytes(8192, 8));
    const cache = openCache({ maxBytes: 1000 });
    const err = await new HttpSource(url, { cache }).read(0, 4096).catch((e: unknown) => e);
    expect(isEngineError(err, "ERR_CACHE_QUOTA")).toBe(true);
    expect((err as Error).message).toContain("4096 bytes");
    expect((err as Error).message).toContain("3096 more bytes");
    expect(server.bodyBytes()).toBe(0);
  });

  it("the medium's free space counts too, and a write into a full medium evicts, then is ERR_CACHE_QUOTA", async () => {
    const url = server.setFile("/w/q.bin", randomBytes(8192, 60));
    class TinyDisk extends NodeChunkStore {
      override available(): Promise<number | undefined> {
        return Promise.resolve(100);
      }
    }
    const small = new WeightCache(new TinyDisk(dir), { pieceBytes: PIECE });
    const err = await new HttpSource(url, { cache: small }).read(0, 4096).catch((e: unknown) => e);
    expect(isEngineError(err, "ERR_CACHE_QUOTA")).toBe(true);
    expect((err as Error).message).toContain("100 bytes free on the medium");

    // Another entry to evict, then a medium that refuses every write until something is freed.
    const other = server.setFile("/w/q-old.bin", randomBytes(2048, 61));
    await new HttpSource(other, { cache: openCache() }).read(0, 2048);
    let refusals = 1;
    class FullDisk extends NodeChunkStore {
      override putPiece(key: string, piece: { offset: number; length: number }, b: Uint8Array) {
        if (refusals-- > 0) {
          return Promise.reject(Object.assign(new Error("no space"), { code: "ENOSPC" }));
        }
        return super.putPiece(key, piece, b);
      }
    }
    const full = new WeightCache(new FullDisk(dir), { pieceBytes: PIECE });
    expect(await new HttpSource(url, { cache: full }).read(0, 2048)).toEqual(
      await new HttpSource(url).read(0, 2048),
    );
    expect(full.stats.evictedEntries).toBe(1);
    expect((await full.list()).map((e) => e.url)).toEqual([url]);

    refusals = 1_000;
    const err2 = await new HttpSource(url, { cache: full })
      .read(4096, 1024)
      .catch((e: unknown) => e);
    expect(isEngineError(err2, "ERR_CACHE_QUOTA")).toBe(true);
    expect((err2 as Error).message).toContain("medium is full");
  });

  it("evicts least recently used entries first to make room", async () => {
    let clock = 0;
    const options = { maxBytes: 8192, now: () => ++clock };
    const urls = ["a", "b", "c"].map((n, i) =>
      server.setFile(`/lru/${n}`, randomBytes(4096, 10 + i)),
    );
    const [a, b, c] = urls as [string, string, string];
    const read = (url: string): Promise<Uint8Array> =>
      new HttpSource(url, { cache: openCache(options) }).read(0, 4096);
    await read(a);
    await read(b);
    await read(a); // a is now more recent than b
    const cache = openCache(options);
    await new HttpSource(c, { cache }).read(0, 4096);
    expect(cache.stats.evictedEntries).toBe(1);
    expect((await cache.list()).map((e) => e.url)).toEqual([c, a]);
    expect(await cache.usage()).toBe(8192);
    server.reset();
    await read(a);
    expect(server.bodyBytes()).toBe(0);
  });

  it("concurrent reads of the same range agree and leave a consistent entry", async () => {
    const file = randomBytes(48 * 1024, 20);
    const url = server.setFile("/w/g.bin", file);
    const cache = openCache();
    const shared = new HttpSource(url, { cache });
    const other = new HttpSource(url, { cache: openCache() });
    const ranges: [number, number][] = [
      [0, 20_000],
      [0, 20_000],
      [5000, 30_000],
      [10_000, 38_000],
    ];
    const results = await Promise.all([
      ...ranges.map(([o, n]) => shared.read(o, n)),
      ...ranges.map(([o, n]) => other.read(o, n)),
    ]);
    results.forEach((r, i) => {
      const [o, n] = ranges[i % ranges.length] as [number, number];
      expect(r).toEqual(file.slice(o, o + n));
    });
    const entry = await new NodeChunkStore(dir).getEntry(await cacheKey(url));
    let end = 0;
    for (const p of entry?.pieces ?? []) {
      expect(p.offset).toBeGreaterThanOrEqual(end);
      end = p.offset + p.length;
    }
    server.reset();
    const check = openCache();
    expect(await new HttpSource(url, { cache: check }).read(0, 48_000)).toEqual(
      file.slice(0, 48_000),
    );
    expect(check.stats.corruptPieces).toBe(0);
    expect(server.bodyBytes()).toBe(48_000 - (check.stats.hitBytes ?? 0));
  });

  it("a source without any validator is read straight through and never stored", async () => {
    const bare = await startRangeServer({ etags: false, lastModified: false });
    try {
      const file = randomBytes(2048, 30);
      const url = bare.setFile("/n.bin", file);
      const cache = openCache();
      expect(await new HttpSource(url, { cache }).read(0, 2048)).toEqual(file);
      expect(await new HttpSource(url, { cache }).read(0, 2048)).toEqual(file);
      expect(bare.bodyBytes()).toBe(4096);
      expect(await cache.list()).toEqual([]);
    } finally {
      await bare.close();
    }
  });

  it("Last-Modified is the validator when there is no ETag", async () => {
    const noTags = await startRangeServer({ etags: false });
    try {
      const url = noTags.setFile("/lm.bin", randomBytes(2048, 31));
      await new HttpSource(url, { cache: openCache() }).read(0, 2048);
      noTags.reset();
      await new HttpSource(url, { cache: openCache() }).read(0, 2048);
      expect(noTags.bodyBytes()).toBe(0);
      const next = randomBytes(2048, 32);
      noTags.setFile("/lm.bin", next); // a later Last-Modified
      expect(await new HttpSource(url, { cache: openCache() }).read(0, 2048)).toEqual(next);
      expect(noTags.bodyBytes()).toBe(2048);
    } finally {
      await noTags.close();
    }
  });

  it("a shard loads through the cache with the same bytes on the wire as uncached, then from the cache", async () => {
    const fixture = "mistral-sharded-bf16";
    const url = `${server.base}/fs/models/${fixture}`;
    const config = await loadModelConfig(new HttpModelDir(url));
    const range = { layerStart: 1, layerEnd: 3, embeds: false, tail: false };
    server.reset();
    const plain = await loadShardWeights(new HttpModelDir(url), config, range);
    const uncachedBytes = server.bodyBytes(".safetensors");
    server.reset();
    const cached = await loadShardWeights(openCachedModelDir(url, openCache()), config, range);
    expect(server.bodyBytes(".safetensors")).toBe(uncachedBytes);
    expect(cached).toEqual(plain);
    server.reset();
    const cache = openCache();
    const again = await loadShardWeights(openCachedModelDir(url, cache), config, range);
    expect(server.bodyBytes(".safetensors")).toBe(0);
    expect(again).toEqual(
      await loadShardWeights(new FileModelDir(modelFixtureDir(fixture)), config, range),
    );
    expect(cache.stats.hitBytes).toBe(uncachedBytes);
  });

  it("remove and clear drop entries and their files", async () => {
    const u1 = server.setFile("/rm/1", randomBytes(2048, 40));
    const u2 = server.setFile("/rm/2", randomBytes(2048, 41));
    const cache = openCache();
    await new HttpSource(u1, { cache }).read(0, 2048);
    await new HttpSource(u2, { cache }).read(0, 2048);
    expect(await cache.usage()).toBe(4096);
    expect(await cache.remove(await cacheKey(u1))).toBe(true);
    expect((await cache.list()).map((e) => e.url)).toEqual([u2]);
    await cache.clear();
    expect(await cache.list()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("defaultCacheDir", () => {
  it("takes PIPEMESH_CACHE_DIR, then XDG_CACHE_HOME/pipemesh, then ~/.cache/pipemesh; off turns it off", () => {
    expect(defaultCacheDir({ PIPEMESH_CACHE_DIR: "/x/c", XDG_CACHE_HOME: "/y" })).toBe("/x/c");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/y" })).toBe(join("/y", "pipemesh"));
    expect(defaultCacheDir({})).toMatch(/[/\\]\.cache[/\\]pipemesh$/);
    expect(defaultCacheDir({ PIPEMESH_CACHE_DIR: "off" })).toBeNull();
  });
});
