// A small HTTP file server for tests on 127.0.0.1:0: files from memory (set or replace them, with an ETag
// each) and, optionally, from a directory on disk (FIXTURES_DIR); single Range requests (206), HEAD with
// Content-Length / ETag / Last-Modified, CORS for browser pages, a byte counter per request, and faults:
// close the connection after N body bytes of the next GET. Test-only.

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
  range: string | null;
  /** Body bytes written (0 for HEAD). */
  bytes: number;
}

export interface RangeServerOptions {
  /** Serve files below this directory under /fs/ (404 outside it). */
  dir?: string;
  /** Send ETag headers (default true). */
  etags?: boolean;
  /** Send Last-Modified headers (default true). */
  lastModified?: boolean;
  /** Cache-Control of every answer (default "no-store", so a browser's HTTP cache never answers). */
  cacheControl?: string;
}

export interface RangeServer {
  /** http://127.0.0.1:PORT */
  base: string;
  /** Every request so far, in order. */
  served: ServedRequest[];
  /** Puts (or replaces) a file at `path` (starting with /); the ETag defaults to a hash of the bytes. */
  setFile(path: string, bytes: Uint8Array, etag?: string): string;
  /** Body bytes of GETs whose path ends with `suffix` since the last reset (all paths by default). */
  bodyBytes(suffix?: string): number;
  /** HEAD requests since the last reset. */
  heads(): number;
  /** Forgets the request log. */
  reset(): void;
  /** The next GET sends only `bytes` body bytes, then closes the connection. */
  cutNextGetAfter(bytes: number): void;
  close(): Promise<void>;
}

function quoteEtag(bytes: Uint8Array): string {
  return `"${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}"`;
}

export async function startRangeServer(options: RangeServerOptions = {}): Promise<RangeServer> {
  const files = new Map<string, { bytes: Uint8Array; etag: string; modified: string }>();
  const served: ServedRequest[] = [];
  const useEtags = options.etags ?? true;
  let cutAfter: number | null = null;

  const lookup = (path: string): { bytes: Uint8Array; etag: string; modified: string } | null => {
    const mem = files.get(path);
    if (mem !== undefined) return mem;
    const dir = options.dir;
    if (dir === undefined || !path.startsWith("/fs/")) return null;
    const full = join(dir, decodeURIComponent(path.slice(4)));
    try {
      if (!full.startsWith(dir) || !statSync(full).isFile()) return null;
      const bytes = new Uint8Array(readFileSync(full));
      return { bytes, etag: quoteEtag(bytes), modified: statSync(full).mtime.toUTCString() };
    } catch {
      return null;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const method = req.method ?? "GET";
    const rangeHeader = req.headers.range ?? null;
    const log = (status: number, bytes: number): void => {
      served.push({ method, path, status, range: rangeHeader, bytes });
    };
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "range",
      "access-control-expose-headers": "etag, content-range, content-length, last-modified",
    };
    if (method === "OPTIONS") {
      res.writeHead(204, { ...cors, "access-control-allow-methods": "GET, HEAD" }).end();
      return;
    }
    const file = lookup(path);
    if (file === null) {
      res.writeHead(404, cors).end();
      log(404, 0);
      return;
    }
    const size = file.bytes.byteLength;
    const headers: Record<string, string | number> = {
      ...cors,
      "cache-control": options.cacheControl ?? "no-store",
      "accept-ranges": "bytes",
      ...(options.lastModified === false ? {} : { "last-modified": file.modified }),
      ...(useEtags ? { etag: file.etag } : {}),
    };
    if (method === "HEAD") {
      res.writeHead(200, { ...headers, "content-length": size }).end();
      log(200, 0);
      return;
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader ?? "");
    let status = 200;
    let body = file.bytes;
    if (m !== null) {
      const start = Number(m[1]);
      const end = Math.min(m[2] === "" ? size - 1 : Number(m[2]), size - 1);
      if (start >= size) {
        res.writeHead(416, { ...headers, "content-range": `bytes */${size}` }).end();
        log(416, 0);
        return;
      }
      status = 206;
      body = file.bytes.subarray(start, end + 1);
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
    }
    res.writeHead(status, { ...headers, "content-length": body.byteLength });
    if (cutAfter !== null) {
      const n = Math.min(cutAfter, body.byteLength);
      cutAfter = null;
      log(status, n);
      res.write(body.subarray(0, n), () => res.socket?.end());
      return;
    }
    res.end(body);
    log(status, body.byteLength);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let modifiedTick = Date.UTC(2026, 0, 1);
  return {
    base,
    served,
    setFile(path, bytes, etag) {
      const tag = etag ?? quoteEtag(bytes);
      modifiedTick += 1000;
      files.set(path, { bytes, etag: tag, modified: new Date(modifiedTick).toUTCString() });
      return `${base}${path}`;
    },
    bodyBytes(suffix = "") {
      return served
        .filter((s) => s.method === "GET" && s.path.endsWith(suffix))
        .reduce((a, s) => a + s.bytes, 0);
    },
    heads() {
      return served.filter((s) => s.method === "HEAD").length;
    },
    reset() {
      served.length = 0;
    },
    cutNextGetAfter(bytes) {
      cutAfter = bytes;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
