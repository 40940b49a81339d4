// A local stand-in for the Hugging Face Hub on 127.0.0.1, for tests: only the resolve route
// `/{owner}/{repo}/resolve/{revision}/{file}` (HEAD and GET with Range), as the Hub answers it: small
// files directly with a git-style ETag, LFS-like files (weights) by a 302 to a CDN path carrying
// X-Linked-Etag (the sha256) and X-Linked-Size, X-Repo-Commit on every resolve answer, 401 for a gated
// repository without its bearer token, 404 (X-Error-Code) for a missing repo, revision or file. No /api
// routes. The CDN is `/cdn/...` on the same server or on a second server (another origin). Counts body
// bytes per path and records every request. Serves real files from disk (the test fixtures). Test-only.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface HubRepo {
  /** File path in the repo → a path on disk or the bytes. */
  files: Record<string, string | Uint8Array>;
  /** The commit every revision name resolves to (default: a sha1 of the repo name). */
  commit?: string;
  /** Revision names besides the commit itself (default ["main"]). */
  revisions?: string[];
  /** When set, resolve requests need `Authorization: Bearer <token>` (else 401). */
  token?: string;
}

export interface HubServerOptions {
  /** "owner/name" → repo. */
  repos: Record<string, HubRepo>;
  /** Serve LFS redirects from a second server (another origin) instead of /cdn on this one. */
  separateCdn?: boolean;
  /** Which files are LFS-like (redirected, sha256 ETag); default: .safetensors and .gguf. */
  isLfs?: (path: string) => boolean;
  /** Send X-Repo-Commit (default true). */
  sendCommit?: boolean;
  /** Answer HEAD with 405 (default false), to test GET fallbacks. */
  refuseHead?: boolean;
}

export interface HubRequestRecord {
  server: "hub" | "cdn";
  method: string;
  path: string;
  range?: string | undefined;
  authorization?: string | undefined;
  userAgent?: string | undefined;
  status: number;
}

export interface HubServer {
  /** The endpoint, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** The CDN's origin (the same as `url` unless separateCdn). */
  cdnUrl: string;
  /** Body bytes sent for `path` (a URL path, as requested), or in total. */
  bytesServed(path?: string): number;
  /** Every request, in order. */
  requests: HubRequestRecord[];
  close(): Promise<void>;
}

interface StoredFile {
  bytes: Uint8Array;
  sha256: string;
  gitSha: string;
}

function sha(kind: "sha1" | "sha256", data: Uint8Array | string): string {
  return createHash(kind).update(data).digest("hex");
}

/** Parses one `bytes=` range against `size`: [start, end] inclusive, "bad" (416), or null (none). */
function parseRange(header: string | undefined, size: number): [number, number] | "bad" | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === "" && m[2] === "")) return "bad";
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return "bad";
  return [start, end];
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Starts the hub (and a CDN server when asked). */
export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const isLfs = options.isLfs ?? ((p: string) => /\.(safetensors|gguf)$/i.test(p));
  const sendCommit = options.sendCommit ?? true;
  const repos = new Map<
    string,
    { repo: HubRepo; commit: string; files: Map<string, StoredFile> }
  >();
  const byHash = new Map<string, StoredFile>();
  for (const [id, repo] of Object.entries(options.repos)) {
    const files = new Map<string, StoredFile>();
    for (const [path, src] of Object.entries(repo.files)) {
      const bytes = typeof src === "string" ? new Uint8Array(readFileSync(src)) : src;
      const file = {
        bytes,
        sha256: sha("sha256", bytes),
        gitSha: sha("sha1", Buffer.concat([Buffer.from(`blob ${bytes.byteLength}\0`), bytes])),
      };
      files.set(path, file);
      byHash.set(file.sha256, file);
    }
    repos.set(id, { repo, commit: repo.commit ?? sha("sha1", id), files });
  }
  const requests: HubRequestRecord[] = [];
  const served = new Map<string, number>();

  const sendFile = (
    req: IncomingMessage,
    res: ServerResponse,
    file: StoredFile,
    headers: Record<string, string>,
    path: string,
  ): number => {
    const size = file.bytes.byteLength;
    const range = parseRange(req.headers.range, size);
    if (range === "bad") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}` }).end();
      return 416;
    }
    const [start, end] = range ?? [0, size - 1];
    const status = range === null ? 200 : 206;
    res.writeHead(status, {
      ...headers,
      "accept-ranges": "bytes",
      "content-length": String(end - start + 1),
      ...(range === null ? {} : { "content-range": `bytes ${start}-${end}/${size}` }),
    });
    if (req.method === "HEAD") {
      res.end();
      return status;
    }
    const body = file.bytes.subarray(start, end + 1);
    served.set(path, (served.get(path) ?? 0) + body.byteLength);
    res.end(body);
    return status;
  };

  let cdnOrigin = "";

  const handleCdn = (req: IncomingMessage, res: ServerResponse, path: string): number => {
    const hash = /^\/cdn\/[^/]+\/[^/]+\/([0-9a-f]{64})$/.exec(path)?.[1];
    const file = hash === undefined ? undefined : byHash.get(hash);
    if (file === undefined) {
      res.writeHead(404).end();
      return 404;
    }
    return sendFile(req, res, file, { etag: `"${file.sha256}"` }, path);
  };

  const handleHub = (req: IncomingMessage, res: ServerResponse, path: string): number => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return 405;
    }
    if (req.method === "HEAD" && options.refuseHead === true) {
      res.writeHead(405).end();
      return 405;
    }
    const m = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const notFound = (code: string): number => {
      res.writeHead(404, { "x-error-code": code }).end();
      return 404;
    };
    if (m === null) return notFound("NotFound");
    const [, owner = "", name = "", rawRev = "", rawFile = ""] = m;
    const entry = repos.get(`${owner}/${name}`);
    if (entry === undefined) {
      res.writeHead(401, { "x-error-code": "RepoNotFound" }).end(); // the Hub hides private repos so
      return 401;
    }
    if (
      entry.repo.token !== undefined &&
      req.headers.authorization !== `Bearer ${entry.repo.token}`
    ) {
      res.writeHead(401, { "x-error-code": "GatedRepo" }).end();
      return 401;
    }
    const rev = decodeURIComponent(rawRev);
    if (rev !== entry.commit && !(entry.repo.revisions ?? ["main"]).includes(rev)) {
      return notFound("RevisionNotFound");
    }
    const filePath = rawFile.split("/").map(decodeURIComponent).join("/");
    const file = entry.files.get(filePath);
    if (file === undefined) return notFound("EntryNotFound");
    const common: Record<string, string> = sendCommit ? { "x-repo-commit": entry.commit } : {};
    if (isLfs(filePath)) {
      const location = `${cdnOrigin}/cdn/${owner}/${name}/${file.sha256}`;
      res
        .writeHead(302, {
          ...common,
          location,
          etag: `"${file.sha256}"`,
          "x-linked-etag": `"${file.sha256}"`,
          "x-linked-size": String(file.bytes.byteLength),
          "content-length": "0",
        })
        .end();
      return 302;
    }
    return sendFile(req, res, file, { ...common, etag: `"${file.gitSha}"` }, path);
  };

  const handler =
    (server: "hub" | "cdn") =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      // Browsers on another origin read these files, as they read the Hub's: CORS with the headers a
      // range reader needs.
      res.setHeader("access-control-allow-origin", "*");
      res.setHeader(
        "access-control-expose-headers",
        "content-range, content-length, accept-ranges, etag, x-linked-etag, x-linked-size, x-repo-commit",
      );
      let status: number;
      try {
        status =
          path.startsWith("/cdn/") && (server === "cdn" || options.separateCdn !== true)
            ? handleCdn(req, res, path)
            : server === "hub"
              ? handleHub(req, res, path)
              : (res.writeHead(404).end(), 404);
      } catch {
        res.writeHead(500).end();
        status = 500;
      }
      requests.push({
        server,
        method: req.method ?? "",
        path,
        range: req.headers.range,
        authorization: req.headers.authorization,
        userAgent: req.headers["user-agent"],
        status,
      });
    };

  const hub = createServer(handler("hub"));
  const url = await listen(hub);
  let cdn: Server | undefined;
  if (options.separateCdn === true) {
    cdn = createServer(handler("cdn"));
    cdnOrigin = await listen(cdn);
  } else {
    cdnOrigin = url;
  }
  const close = (s: Server): Promise<void> =>
    new Promise((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  return {
    url,
    cdnUrl: cdnOrigin,
    requests,
    bytesServed(path?: string): number {
      if (path !== undefined) return served.get(path) ?? 0;
      let total = 0;
      for (const n of served.values()) total += n;
      return total;
    },
    async close() {
      await Promise.all([close(hub), ...(cdn === undefined ? [] : [close(cdn)])]);
    },
  };
}
