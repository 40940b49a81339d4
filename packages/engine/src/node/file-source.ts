// Node file system implementations of ByteSource and ModelDir, and openModelDir(location) which accepts a
// directory path, a file: URL or an http(s) URL. Node-only (node:fs); browsers use HttpModelDir.

import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "../errors.ts";
import {
  checkRange,
  throwIfAborted,
  type ByteSource,
  type ModelDir,
} from "../loader/byte-source.ts";
import { GgufModelDir, isGgufLocation } from "../loader/gguf-model.ts";
import { HttpModelDir, HttpSource } from "../loader/http-source.ts";

function ioError(path: string, e: unknown): EngineError {
  const code = (e as NodeJS.ErrnoException).code;
  const what = code === "ENOENT" ? "does not exist" : `cannot be read (${(e as Error).message})`;
  return new EngineError("ERR_FETCH", `${path} ${what}`, { cause: e });
}

/** Bytes of one local file; each read opens, reads and closes (no descriptor outlives a call). */
export class FileSource implements ByteSource {
  readonly location: string;

  constructor(path: string) {
    this.location = path;
  }

  async size(signal?: AbortSignal): Promise<number> {
    throwIfAborted(signal, `reading ${this.location}`);
    try {
      return (await stat(this.location)).size;
    } catch (e) {
      throw ioError(this.location, e);
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal, `reading ${this.location}`);
    let handle;
    try {
      handle = await open(this.location, "r");
    } catch (e) {
      throw ioError(this.location, e);
    }
    try {
      const { size } = await handle.stat();
      checkRange(this.location, offset, length, size);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new EngineError(
            "ERR_WEIGHTS_TRUNCATED",
            `${this.location}: file ended after ${offset + done} bytes`,
          );
        }
        done += bytesRead;
        throwIfAborted(signal, `reading ${this.location}`);
      }
      return out;
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw ioError(this.location, e);
    } finally {
      await handle.close();
    }
  }
}

/** A model directory on the local file system. */
export class FileModelDir implements ModelDir {
  readonly location: string;

  constructor(path: string) {
    this.location = path;
  }

  async has(name: string): Promise<boolean> {
    try {
      return (await stat(join(this.location, name))).isFile();
    } catch {
      return false;
    }
  }

  async readText(name: string, signal?: AbortSignal): Promise<string> {
    const path = join(this.location, name);
    try {
      return await readFile(path, { encoding: "utf8", signal });
    } catch (e) {
      if (signal?.aborted === true) {
        throw new EngineError("ERR_ABORTED", `reading ${path} was aborted`, { cause: e });
      }
      throw ioError(path, e);
    }
  }

  open(name: string): ByteSource {
    return new FileSource(join(this.location, name));
  }
}

/**
 * A model from a path, a file: URL, or an http(s) URL: a Hugging Face directory, or a `.gguf` file
 * (opened as a GgufModelDir).
 */
export function openModelDir(location: string): ModelDir {
  if (/^https?:\/\//i.test(location)) {
    return isGgufLocation(location)
      ? new GgufModelDir(new HttpSource(location))
      : new HttpModelDir(location);
  }
  const path = /^file:/i.test(location) ? fileURLToPath(location) : location;
  if (isGgufLocation(path)) return new GgufModelDir(new FileSource(path));
  return new FileModelDir(path);
}
