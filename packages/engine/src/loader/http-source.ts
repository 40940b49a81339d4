// HTTP implementations of ByteSource (Range requests through fetch) and ModelDir (files under a base URL).
// Works in browsers and in Node (global fetch). A server that ignores Range gets one whole-file download,
// kept for later reads of the same source; that is slow but correct.

import { EngineError } from "../errors.ts";
import { checkRange, throwIfAborted, type ByteSource, type ModelDir } from "./byte-source.ts";

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** fetch to use (default: globalThis.fetch). */
  fetch?: FetchFn | undefined;
}

function fetchError(url: string, e: unknown, signal: AbortSignal | undefined): EngineError {
  if (signal?.aborted === true) {
    return new EngineError("ERR_ABORTED", `fetching ${url} was aborted`, { cause: signal.reason });
  }
  if (e instanceof EngineError) return e;
  return new EngineError("ERR_FETCH", `fetching ${url} failed: ${(e as Error).message}`, {
    cause: e,
  });
}

async function request(
  fetchFn: FetchFn,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<Response> {
  throwIfAborted(signal, `fetching ${url}`);
  try {
    return await fetchFn(url, signal === undefined ? init : { ...init, signal });
  } catch (e) {
    throw fetchError(url, e, signal);
  }
}

/** Bytes of one URL, fetched by Range requests. */
export class HttpSource implements ByteSource {
  readonly location: string;
  readonly #fetch: FetchFn;
  #size: number | undefined;
  #whole: Uint8Array | undefined;

  constructor(url: string, options: HttpOptions = {}) {
    this.location = url;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async size(signal?: AbortSignal): Promise<number> {
    if (this.#size !== undefined) return this.#size;
    const head = await request(this.#fetch, this.location, { method: "HEAD" }, signal);
    const len = head.headers.get("content-length");
    if (head.ok && len !== null && /^\d+$/.test(len)) {
      this.#size = Number(len);
      return this.#size;
    }
    if (head.status === 404) {
      throw new EngineError("ERR_FETCH", `${this.location}: HTTP 404 (not found)`);
    }
    // No usable HEAD: ask for the first byte and read the total from Content-Range.
    const res = await request(
      this.#fetch,
      this.location,
      { headers: { Range: "bytes=0-0" } },
      signal,
    );
    const total = /\/(\d+)\s*$/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (res.status === 206 && total !== undefined) {
      await res.body?.cancel();
      this.#size = Number(total);
      return this.#size;
    }
    if (res.ok) {
      this.#whole = await this.#body(res, signal);
      this.#size = this.#whole.byteLength;
      return this.#size;
    }
    throw new EngineError("ERR_FETCH", `${this.location}: HTTP ${res.status}, size unknown`);
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.#size !== undefined) checkRange(this.location, offset, length, this.#size);
    if (this.#whole !== undefined) return this.#whole.slice(offset, offset + length);
    if (length === 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await request(this.#fetch, this.location, { headers: { Range: range } }, signal);
    if (res.status === 416) {
      await res.body?.cancel();
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: range ${range} not satisfiable`,
      );
    }
    if (res.status === 200) {
      // The server ignored Range: keep the whole file once.
      this.#whole = await this.#body(res, signal);
      this.#size = this.#whole.byteLength;
      checkRange(this.location, offset, length, this.#size);
      return this.#whole.slice(offset, offset + length);
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new EngineError("ERR_FETCH", `${this.location}: HTTP ${res.status} for ${range}`);
    }
    const bytes = await this.#body(res, signal);
    if (bytes.byteLength < length) {
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: asked for ${length} bytes at ${offset}, got ${bytes.byteLength}`,
      );
    }
    return bytes.byteLength === length ? bytes : bytes.slice(0, length);
  }

  async #body(res: Response, signal: AbortSignal | undefined): Promise<Uint8Array> {
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw fetchError(this.location, e, signal);
    }
  }
}

/** Joins a base URL (directory) and a file name. */
export function joinUrl(base: string, name: string): string {
  return base.endsWith("/") ? `${base}${name}` : `${base}/${name}`;
}

/** A model directory served over HTTP. */
export class HttpModelDir implements ModelDir {
  readonly location: string;
  readonly #options: HttpOptions;
  readonly #fetch: FetchFn;
  // One source per file, so its size (and a whole-file fallback download) is fetched once.
  readonly #sources = new Map<string, HttpSource>();

  constructor(baseUrl: string, options: HttpOptions = {}) {
    this.location = baseUrl.replace(/\/+$/, "");
    this.#options = options;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async has(name: string, signal?: AbortSignal): Promise<boolean> {
    const url = joinUrl(this.location, name);
    const res = await request(this.#fetch, url, { method: "HEAD" }, signal);
    await res.body?.cancel();
    if (res.ok) return true;
    if (res.status === 404 || res.status === 410) return false;
    throw new EngineError("ERR_FETCH", `${url}: HTTP ${res.status}`);
  }

  async readText(name: string, signal?: AbortSignal): Promise<string> {
    const url = joinUrl(this.location, name);
    const res = await request(this.#fetch, url, {}, signal);
    if (!res.ok) {
      await res.body?.cancel();
      throw new EngineError("ERR_FETCH", `${url}: HTTP ${res.status}`);
    }
    try {
      return await res.text();
    } catch (e) {
      throw fetchError(url, e, signal);
    }
  }

  open(name: string): ByteSource {
    let src = this.#sources.get(name);
    if (src === undefined) {
      src = new HttpSource(joinUrl(this.location, name), this.#options);
      this.#sources.set(name, src);
    }
    return src;
  }
}
