// HTTP implementations of ByteSource (Range requests through fetch) and ModelDir (files under a base URL).
// Works in browsers and in Node (global fetch). A server that ignores Range gets one whole-file download,
// kept for later reads of the same source; that is slow but correct. With `cache` (a WeightCache), Range
// reads go through a CachedSource: verified pieces on the device, only the missing bytes from the network.

import { CachedSource } from "../cache/cached-source.ts";
import type { SourceIdentity } from "../cache/chunk-store.ts";
import type { WeightCache } from "../cache/weight-cache.ts";
import { EngineError } from "../errors.ts";
import { checkRange, throwIfAborted, type ByteSource, type ModelDir } from "./byte-source.ts";

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** fetch to use (default: globalThis.fetch). */
  fetch?: FetchFn | undefined;
  /** Read byte ranges through this weight cache (checked once per source with a HEAD). */
  cache?: WeightCache | undefined;
  /**
   * fetch's cache mode for HttpSource's HEAD and Range requests. Under a weight cache it is "no-store":
   * the revalidating HEAD must reach the server, and the bytes are kept once, in the weight cache.
   */
  httpCache?: RequestCache | undefined;
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

function validators(h: Headers): Omit<SourceIdentity, "url" | "size"> {
  const linked = h.get("x-linked-etag")?.replace(/^(W\/)?"|"$/g, "") ?? "";
  return {
    etag: h.get("etag"),
    sha256: /^[0-9a-f]{64}$/i.test(linked) ? linked.toLowerCase() : null,
    lastModified: h.get("last-modified"),
  };
}

/** Bytes of one URL, fetched by Range requests (through options.cache when given). */
export class HttpSource implements ByteSource {
  readonly location: string;
  readonly #fetch: FetchFn;
  readonly #cached: CachedSource | undefined;
  readonly #mode: RequestInit;
  #size: number | undefined;
  #whole: Uint8Array | undefined;
  #validators: Omit<SourceIdentity, "url" | "size"> | undefined;

  constructor(url: string, options: HttpOptions = {}) {
    this.location = url;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#mode = options.httpCache === undefined ? {} : { cache: options.httpCache };
    this.#cached =
      options.cache === undefined
        ? undefined
        : new CachedSource(
            new HttpSource(url, { fetch: this.#fetch, httpCache: "no-store" }),
            options.cache,
          );
  }

  /** The weight cache this source reads through, if any. */
  get cache(): WeightCache | undefined {
    return this.#cached?.cache;
  }

  /** URL, size and validators (ETag, X-Linked-Etag SHA-256, Last-Modified) from one HEAD. */
  async identity(signal?: AbortSignal): Promise<SourceIdentity> {
    if (this.#cached !== undefined) return this.#cached.inner.identity(signal);
    const size = await this.size(signal);
    const v = this.#validators ?? { etag: null, sha256: null, lastModified: null };
    return { url: this.location, size, ...v };
  }

  async size(signal?: AbortSignal): Promise<number> {
    if (this.#cached !== undefined) return this.#cached.size(signal);
    if (this.#size !== undefined) return this.#size;
    const head = await request(
      this.#fetch,
      this.location,
      { ...this.#mode, method: "HEAD" },
      signal,
    );
    const len = head.headers.get("content-length");
    if (head.ok && len !== null && /^\d+$/.test(len)) {
      this.#validators = validators(head.headers);
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
      { ...this.#mode, headers: { Range: "bytes=0-0" } },
      signal,
    );
    const total = /\/(\d+)\s*$/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (res.status === 206 && total !== undefined) {
      await res.body?.cancel();
      this.#validators = validators(res.headers);
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
    if (this.#cached !== undefined) return this.#cached.read(offset, length, signal);
    if (this.#size !== undefined) checkRange(this.location, offset, length, this.#size);
    if (this.#whole !== undefined) return this.#whole.slice(offset, offset + length);
    if (length === 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await request(
      this.#fetch,
      this.location,
      { ...this.#mode, headers: { Range: range } },
      signal,
    );
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

  /**
   * One Range request for [offset, offset + length), handed to `onPiece` in consecutive pieces of at most
   * `pieceBytes` as the body arrives; a failure after some pieces keeps those delivered. The answer must
   * be a 206 for exactly that range (from a server that ignores Range, the kept whole file is used) and,
   * when both name one, carry the ETag the source was identified with.
   */
  async readPieces(
    offset: number,
    length: number,
    pieceBytes: number,
    onPiece: (offset: number, bytes: Uint8Array) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.#cached !== undefined)
      throw new EngineError("ERR_INTERNAL", "readPieces on a cached source");
    if (this.#size !== undefined) checkRange(this.location, offset, length, this.#size);
    if (length === 0) return;
    const slices = async (whole: Uint8Array): Promise<void> => {
      checkRange(this.location, offset, length, whole.byteLength);
      for (let at = offset; at < offset + length; at += pieceBytes) {
        await onPiece(at, whole.slice(at, Math.min(at + pieceBytes, offset + length)));
      }
    };
    if (this.#whole !== undefined) return slices(this.#whole);
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await request(
      this.#fetch,
      this.location,
      { ...this.#mode, headers: { Range: range } },
      signal,
    );
    if (res.status === 200) {
      this.#whole = await this.#body(res, signal);
      this.#size = this.#whole.byteLength;
      return slices(this.#whole);
    }
    if (res.status === 416) {
      await res.body?.cancel();
      throw new EngineError(
        "ERR_WEIGHTS_TRUNCATED",
        `${this.location}: range ${range} not satisfiable`,
      );
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new EngineError("ERR_FETCH", `${this.location}: HTTP ${res.status} for ${range}`);
    }
    const cr = /^bytes (\d+)-(\d+)\//.exec(res.headers.get("content-range") ?? "");
    if (cr !== null && (Number(cr[1]) !== offset || Number(cr[2]) > offset + length - 1)) {
      await res.body?.cancel();
      throw new EngineError(
        "ERR_FETCH",
        `${this.location}: asked for ${range}, the server sent ${res.headers.get("content-range")}`,
      );
    }
    const etag = res.headers.get("etag");
    const known = this.#validators?.etag ?? null;
    const strong = (tag: string): string => tag.replace(/^W\//, "");
    if (etag !== null && known !== null && strong(etag) !== strong(known)) {
      await res.body?.cancel();
      throw new EngineError(
        "ERR_FETCH",
        `${this.location} changed while it was read (ETag ${known} became ${etag})`,
      );
    }
    const reader = res.body?.getReader();
    if (reader === undefined)
      throw new EngineError("ERR_FETCH", `${this.location}: empty body for ${range}`);
    let at = offset;
    let buf = new Uint8Array(Math.min(pieceBytes, length));
    let fill = 0;
    try {
      while (at < offset + length) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw fetchError(this.location, e, signal);
        }
        if (chunk.done) {
          throw new EngineError(
            "ERR_WEIGHTS_TRUNCATED",
            `${this.location}: asked for ${length} bytes at ${offset}, got ${at + fill - offset}`,
          );
        }
        let data = chunk.value;
        while (data.byteLength > 0 && at < offset + length) {
          const n = Math.min(data.byteLength, buf.byteLength - fill);
          buf.set(data.subarray(0, n), fill);
          fill += n;
          data = data.subarray(n);
          if (fill === buf.byteLength) {
            await onPiece(at, buf);
            at += fill;
            fill = 0;
            buf = new Uint8Array(Math.min(pieceBytes, offset + length - at));
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
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
