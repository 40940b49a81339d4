// OpfsChunkStore: the weight cache's ChunkStore in the Origin Private File System
// (navigator.storage.getDirectory(); pages and workers). Layout: `pipemesh-cache/v1/<key>/entry.json` and
// `<offset>-<length>.bin`. Files are written with createWritable (committed atomically on close) or, where
// only sync access handles exist (Safari's workers), through one; a torn piece then fails its hash and a
// torn record parses as nothing, so neither is ever trusted. Browser-only; no quota logic here.

import {
  parseEntry,
  pieceName,
  type CacheEntry,
  type CachePiece,
  type ChunkStore,
} from "./chunk-store.ts";

const ROOT_DIR = "pipemesh-cache";
const VERSION_DIR = "v1";
const ENTRY_FILE = "entry.json";

interface SyncHandle {
  truncate(size: number): void;
  write(data: Uint8Array, options: { at: number }): number;
  flush(): void;
  close(): void;
}

function isNotFound(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === "NotFoundError" || name === "TypeMismatchError";
}

export class OpfsChunkStore implements ChunkStore {
  readonly kind = "opfs";
  #root: Promise<FileSystemDirectoryHandle> | undefined;

  /** Whether this context has OPFS at all (it may still refuse, e.g. in some private modes). */
  static supported(): boolean {
    const storage = (globalThis as { navigator?: { storage?: { getDirectory?: unknown } } })
      .navigator?.storage;
    return typeof storage?.getDirectory === "function";
  }

  #versionDir(): Promise<FileSystemDirectoryHandle> {
    if (this.#root === undefined) {
      const p = (async () => {
        const top = await navigator.storage.getDirectory();
        const base = await top.getDirectoryHandle(ROOT_DIR, { create: true });
        return base.getDirectoryHandle(VERSION_DIR, { create: true });
      })();
      this.#root = p;
      p.catch(() => {
        if (this.#root === p) this.#root = undefined;
      });
    }
    return this.#root;
  }

  async #entryDir(key: string, create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    try {
      return await (await this.#versionDir()).getDirectoryHandle(key, { create });
    } catch (e) {
      if (!create && isNotFound(e)) return undefined;
      throw e;
    }
  }

  async #readFile(key: string, name: string): Promise<File | undefined> {
    const dir = await this.#entryDir(key, false);
    if (dir === undefined) return undefined;
    try {
      return await (await dir.getFileHandle(name)).getFile();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async #writeFile(key: string, name: string, data: Uint8Array): Promise<void> {
    const dir = await this.#entryDir(key, true);
    if (dir === undefined) throw new Error(`cannot create cache directory ${key}`);
    const handle = await dir.getFileHandle(name, { create: true });
    const body =
      data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : data.slice();
    if (typeof (handle as { createWritable?: unknown }).createWritable === "function") {
      const w = await handle.createWritable();
      try {
        await w.write(body);
        await w.close();
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
      return;
    }
    const sync = await (
      handle as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }
    ).createSyncAccessHandle();
    try {
      sync.truncate(0);
      sync.write(body, { at: 0 });
      sync.flush();
    } finally {
      sync.close();
    }
  }

  async getEntry(key: string): Promise<CacheEntry | undefined> {
    const file = await this.#readFile(key, ENTRY_FILE);
    return file === undefined ? undefined : parseEntry(await file.text(), key);
  }

  putEntry(entry: CacheEntry): Promise<void> {
    return this.#writeFile(entry.key, ENTRY_FILE, new TextEncoder().encode(JSON.stringify(entry)));
  }

  async getPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
  ): Promise<Uint8Array | undefined> {
    const file = await this.#readFile(key, pieceName(piece));
    return file === undefined ? undefined : new Uint8Array(await file.arrayBuffer());
  }

  putPiece(
    key: string,
    piece: Pick<CachePiece, "offset" | "length">,
    bytes: Uint8Array,
  ): Promise<void> {
    return this.#writeFile(key, pieceName(piece), bytes);
  }

  async deletePiece(key: string, piece: Pick<CachePiece, "offset" | "length">): Promise<void> {
    const dir = await this.#entryDir(key, false);
    await dir?.removeEntry(pieceName(piece)).catch(() => undefined);
  }

  async list(): Promise<CacheEntry[]> {
    const root = await this.#versionDir();
    const keys: string[] = [];
    const iter = (root as unknown as { keys(): AsyncIterable<string> }).keys();
    for await (const name of iter) if (/^[0-9a-f]+$/.test(name)) keys.push(name);
    const out: CacheEntry[] = [];
    for (const key of keys) {
      const e = await this.getEntry(key).catch(() => undefined);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  async remove(key: string): Promise<boolean> {
    const root = await this.#versionDir();
    try {
      await root.removeEntry(key, { recursive: true });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async clear(): Promise<void> {
    const top = await navigator.storage.getDirectory();
    this.#root = undefined;
    await top.removeEntry(ROOT_DIR, { recursive: true }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  async available(): Promise<number | undefined> {
    const est = await navigator.storage.estimate?.().catch(() => undefined);
    if (est?.quota === undefined) return undefined;
    return Math.max(0, est.quota - (est.usage ?? 0));
  }
}
