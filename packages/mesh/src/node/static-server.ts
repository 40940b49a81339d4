// Static files for `pipemesh serve`: the built web app and public/ (models), with HTTP Range requests
// (peers fetch only their layers' byte ranges), cross-origin isolation headers (COOP/COEP, needed for
// SharedArrayBuffer and threaded wasm) and an SPA fallback to index.html. Read-only; no directory listings.

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";

export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".onnx": "application/octet-stream",
  ".safetensors": "application/octet-stream",
  ".bin": "application/octet-stream",
};

export interface StaticOptions {
  /** Directories searched in order (e.g. the built app, then public/). */
  roots: readonly string[];
  /** Serve this file for extension-less paths that match nothing (client-side routes). */
  spaFallback?: string;
}

/** Parses one `bytes=a-b` range against a file size; null = whole file; "invalid" = 416. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | "invalid" {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return "invalid"; // multiple ranges are not supported
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return "invalid";
  let start: number;
  let end: number;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) return "invalid";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size)
    return "invalid";
  return { start, end };
}

async function findFile(
  roots: readonly string[],
  urlPath: string,
): Promise<{ path: string; size: number; mtime: Date } | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const rel = normalize(decoded).replace(/^([/\\])+/, "");
  for (const root of roots) {
    const base = resolve(root);
    let path = resolve(base, rel);
    if (path !== base && !path.startsWith(base + sep)) continue; // traversal
    try {
      let s = await stat(path);
      if (s.isDirectory()) {
        path = join(path, "index.html");
        s = await stat(path);
      }
      if (s.isFile()) return { path, size: s.size, mtime: s.mtime };
    } catch {
      // not in this root
    }
  }
  return null;
}

/** A request handler for static files; answers 404/405/416 itself. */
export function createStaticHandler(
  options: StaticOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const send = (status: number, text: string, extra: Record<string, string> = {}): void => {
        res.writeHead(status, {
          ...ISOLATION_HEADERS,
          "content-type": "text/plain; charset=utf-8",
          ...extra,
        });
        res.end(req.method === "HEAD" ? undefined : text);
      };
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(405, "method not allowed\n", { allow: "GET, HEAD" });
        return;
      }
      const url = new URL(req.url ?? "/", "http://localhost");
      let file = await findFile(options.roots, url.pathname);
      if (file === null && options.spaFallback !== undefined && extname(url.pathname) === "") {
        file = await findFile(options.roots, options.spaFallback);
      }
      if (file === null) {
        send(404, "not found\n");
        return;
      }
      const range = parseRange(req.headers.range, file.size);
      const headers: Record<string, string> = {
        ...ISOLATION_HEADERS,
        "content-type": TYPES[extname(file.path).toLowerCase()] ?? "application/octet-stream",
        "accept-ranges": "bytes",
        "last-modified": file.mtime.toUTCString(),
        "cache-control": "no-cache",
      };
      if (range === "invalid") {
        send(416, "range not satisfiable\n", { "content-range": `bytes */${file.size}` });
        return;
      }
      const { start, end } = range ?? { start: 0, end: file.size - 1 };
      const length = file.size === 0 ? 0 : end - start + 1;
      headers["content-length"] = String(length);
      if (range !== null) headers["content-range"] = `bytes ${start}-${end}/${file.size}`;
      res.writeHead(range === null ? 200 : 206, headers);
      if (req.method === "HEAD" || length === 0) {
        res.end();
        return;
      }
      const stream = createReadStream(file.path, { start, end });
      stream.on("error", () => res.destroy());
      stream.pipe(res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}
