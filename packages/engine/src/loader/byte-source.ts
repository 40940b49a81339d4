// ByteSource: random access to the bytes of one file (a local file, an HTTP URL with Range requests, or
// memory), and ModelDir: the files of one model directory by name. Interfaces plus the in-memory
// implementation used by tests; the file and HTTP implementations live next to this file and in src/node/.

import { EngineError } from "../errors.ts";

export interface ByteSource {
  /** Where the bytes come from (a path or URL), for error messages. */
  readonly location: string;
  /** Total size in bytes. */
  size(signal?: AbortSignal): Promise<number>;
  /**
   * Exactly `length` bytes starting at `offset`. A range past the end rejects with ERR_WEIGHTS_TRUNCATED;
   * I/O failures reject with ERR_FETCH; an aborted signal rejects with ERR_ABORTED.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/** The files of one model directory (config.json, safetensors, tokenizer files), by file name. */
export interface ModelDir {
  /** The directory path or base URL, for error messages. */
  readonly location: string;
  /** Whether the file exists. */
  has(name: string, signal?: AbortSignal): Promise<boolean>;
  /** The file's text; a missing file rejects with ERR_FETCH. */
  readText(name: string, signal?: AbortSignal): Promise<string>;
  /** Random access to the file's bytes (nothing is read until asked). */
  open(name: string): ByteSource;
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) {
    throw new EngineError("ERR_ABORTED", `${what} was aborted`, { cause: signal.reason });
  }
}

export function checkRange(
  location: string,
  offset: number,
  length: number,
  sizeBytes: number,
): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new EngineError("ERR_INTERNAL", `bad byte range ${offset}+${length} of ${location}`);
  }
  if (offset + length > sizeBytes) {
    throw new EngineError(
      "ERR_WEIGHTS_TRUNCATED",
      `${location} has ${sizeBytes} bytes; bytes ${offset}..${offset + length} were asked for`,
    );
  }
}

/** A ByteSource over bytes in memory. */
export class MemorySource implements ByteSource {
  readonly location: string;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array, location = "memory") {
    this.#bytes = bytes;
    this.location = location;
  }

  size(): Promise<number> {
    return Promise.resolve(this.#bytes.byteLength);
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      throwIfAborted(signal, `reading ${this.location}`);
      checkRange(this.location, offset, length, this.#bytes.byteLength);
      return Promise.resolve(this.#bytes.slice(offset, offset + length));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

/** A ModelDir over named in-memory files (tests, and models assembled in the browser). */
export class MemoryModelDir implements ModelDir {
  readonly location: string;
  readonly #files: ReadonlyMap<string, Uint8Array>;

  constructor(files: ReadonlyMap<string, Uint8Array>, location = "memory") {
    this.#files = files;
    this.location = location;
  }

  has(name: string): Promise<boolean> {
    return Promise.resolve(this.#files.has(name));
  }

  readText(name: string): Promise<string> {
    const bytes = this.#files.get(name);
    if (bytes === undefined) {
      return Promise.reject(
        new EngineError("ERR_FETCH", `${this.location}/${name} does not exist`),
      );
    }
    return Promise.resolve(new TextDecoder().decode(bytes));
  }

  open(name: string): ByteSource {
    const bytes = this.#files.get(name);
    const location = `${this.location}/${name}`;
    if (bytes === undefined) {
      return {
        location,
        size: () => Promise.reject(new EngineError("ERR_FETCH", `${location} does not exist`)),
        read: () => Promise.reject(new EngineError("ERR_FETCH", `${location} does not exist`)),
      };
    }
    return new MemorySource(bytes, location);
  }
}
