// NodeChunkStore: the weight cache's ChunkStore on a Node file system. Layout under `dir`:
// `v1/<key>/entry.json` (the record) and `v1/<key>/<offset>-<length>.bin` (pieces). Every file is written
// to a temporary name and renamed into place, so a crash leaves either the old file or the new one.
// Node-only (node:fs); exported from src/node/index.ts.

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, statfs, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  parseEntry,
  pieceName,
  QuotaError,
  isQuotaFailure,
  type CacheEntry,
  type CachePiece,
  type ChunkStore,
} from "../cache/chunk-store.ts";

const ENTRY_FILE = "entry.json";

export class NodeChunkStore implements ChunkStore {
  readonly kind = "node";
  /** The cache directory (holds v1/). */
  readonly dir: string;
  readonly #root: string;

  constructor(dir: string) {
    this.dir = dir;
    this.#root = join(dir, "v1");
  }

  #entryDir(key: string): string {
    if (!/^[0-9a-f]+$/.test(key)) throw new Error(`bad cache key ${key}`);
    return join(this.#root, key);
  }

  async #atomicWrite(dir: string, name: string, data: Uint8Array | string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(tmp, data);
      await rename(tmp, join(dir, name));
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      if (isQuotaFailure(e)) throw new QuotaError((e as Error).message);
      throw e;
    }
  }

  async getEntry(key: string): Promise<CacheEntry | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.#entryDir(key), ENTRY_FILE), "utf8");
    } catch {
      return undefined;
    }
    return parseEntry(text, key);
  }

  putEntry(entry: CacheEntry): Promise<void> {
    return this.#atomicWrite(this.#entryDir(entry.key), ENTRY_FILE, JSON.stringify(entry));
  }

  async getPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
  ): Promise<Uint8Array | undefined> {
    try {
      const buf = await readFile(join(this.#entryDir(key), pieceName(piece)));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch {
      return undefined;
    }
  }

  putPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
    bytes: Uint8Array,
  ): Promise<void> {
    return this.#atomicWrite(this.#entryDir(key), pieceName(piece), bytes);
  }

  async deletePiece(key: string, piece: Pick<CachePiece, "offset" | "length">): Promise<void> {
    await unlink(join(this.#entryDir(key), pieceName(piece))).catch(() => undefined);
  }

  async list(): Promise<CacheEntry[]> {
    let keys: string[];
    try {
      keys = await readdir(this.#root);
    } catch {
      return [];
    }
    const out: CacheEntry[] = [];
    for (const key of keys) {
      if (!/^[0-9a-f]+$/.test(key)) continue;
      const e = await this.getEntry(key);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  async remove(key: string): Promise<boolean> {
    const dir = this.#entryDir(key);
    try {
      await readdir(dir);
    } catch {
      return false;
    }
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  async clear(): Promise<void> {
    await rm(this.#root, { recursive: true, force: true });
  }

  async available(): Promise<number | undefined> {
    try {
      await mkdir(this.#root, { recursive: true });
      const s = await statfs(this.#root);
      return s.bavail * s.bsize;
    } catch {
      return undefined;
    }
  }
}
