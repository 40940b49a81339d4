// The models `pipemesh serve --model SPEC` serves: a local Hugging Face directory or `.gguf` file (its files
// served under /models/<id>/ or /models/<id>), an http(s) URL, or a Hub id `hf:OWNER/REPO[@REV][/FILE]`
// resolved through HF_ENDPOINT at start-up (headers and small JSON only). Each becomes a room descriptor
// whose `source` tells peers where to fetch and what to verify: a public remote source is fetched by the
// peers directly; one that needs HF_TOKEN is passed through this server (a streaming Range proxy limited to
// that model's files), so the token never leaves it. Unreadable sources are ERR_MODEL_SOURCE at start-up.

import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname } from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { hubSettings, scopedFetch, type FetchFn } from "@pipemesh/engine";
import { openModelSource } from "@pipemesh/engine/node";
import type { ModelInfo, ModelSource } from "@pipemesh/mesh";
import { createStaticHandler } from "@pipemesh/mesh/node";
import { CliError } from "../cli-error.ts";
import { modelInfoOf } from "./model-info.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServedModel {
  /** The room's model id (the path under /models/). */
  id: string;
  info: ModelInfo;
  /** How /models/<id> requests are answered: local files, a token-keeping proxy, or not at all. */
  route:
    | { kind: "local"; path: string; gguf: boolean }
    | { kind: "proxy"; gguf: boolean; files: ReadonlyMap<string, string>; fetch: FetchFn }
    | { kind: "none" };
}

/** A model id from a name: characters a model id allows, nothing else. */
function idOf(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_.:-]/g, "-").replace(/^\.+/, "");
  return id === "" ? "model" : id;
}

/** Opens and describes `spec`; ERR_MODEL_SOURCE naming it and the cause. */
export async function openServedModel(
  spec: string,
  taken: ReadonlySet<string>,
  ctx?: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ServedModel> {
  let opened: Awaited<ReturnType<typeof openModelSource>>;
  try {
    opened = await openModelSource(spec, { env });
  } catch (e) {
    throw new CliError("ERR_MODEL_SOURCE", `--model ${spec}: ${(e as Error).message}`);
  }
  const { resolved, dir } = opened;
  const gguf = resolved.format === "gguf";
  // A second model of the same name gets a number (before ".gguf": the id must still name a GGUF file).
  const base = idOf(resolved.name);
  const [stem, ext] =
    gguf && /\.gguf$/i.test(base) ? [base.slice(0, -5), base.slice(-5)] : [base, ""];
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${stem}-${n}${ext}`;
  const local = resolved.spec.kind === "dir" || resolved.spec.kind === "gguf-file";
  let info: ModelInfo;
  try {
    info = await modelInfoOf(dir, id, undefined, ctx);
  } catch (e) {
    throw new CliError("ERR_MODEL_SOURCE", `--model ${spec}: ${(e as Error).message}`);
  }
  if (local) return { id, info, route: { kind: "local", path: resolved.location, gguf } };
  const files = resolved.files.map((f) => {
    const file: ModelSource["files"][number] = { name: f.name, size: f.size };
    if (f.sha256 !== undefined) file.sha256 = f.sha256;
    return file;
  });
  const proxied = resolved.needsToken;
  const url = proxied
    ? gguf
      ? `/models/${id}`
      : `/models/${id}/`
    : gguf || resolved.location.endsWith("/")
      ? resolved.location
      : `${resolved.location}/`;
  const source: ModelSource = { format: resolved.format, url, files };
  if (resolved.revision !== undefined) source.revision = resolved.revision;
  info.source = source;
  if (!proxied) return { id, info, route: { kind: "none" } };
  const { token } = hubSettings({ env });
  const origin = new URL(resolved.endpoint ?? resolved.location).origin;
  return {
    id,
    info,
    route: {
      kind: "proxy",
      gguf,
      files: new Map(resolved.files.map((f) => [f.name, f.url])),
      fetch: scopedFetch({ token, origin }),
    },
  };
}

const PASSED_HEADERS = [
  "content-length",
  "content-range",
  "content-type",
  "accept-ranges",
  "etag",
  "last-modified",
];

/** Streams one remote file, with the client's Range, through a token-keeping fetch. */
async function proxy(req: IncomingMessage, res: ServerResponse, url: string, f: FetchFn) {
  const headers: Record<string, string> = {};
  if (typeof req.headers.range === "string") headers["range"] = req.headers.range;
  const abort = new AbortController();
  req.once("close", () => abort.abort());
  let upstream: Response;
  try {
    upstream = await f(url, {
      method: req.method === "HEAD" ? "HEAD" : "GET",
      headers,
      signal: abort.signal,
    });
  } catch {
    if (!res.headersSent)
      res.writeHead(502, { "content-type": "text/plain" }).end("upstream failed\n");
    return;
  }
  const out: Record<string, string> = { "cross-origin-resource-policy": "same-origin" };
  for (const h of PASSED_HEADERS) {
    const v = upstream.headers.get(h);
    if (v !== null) out[h] = v;
  }
  res.writeHead(upstream.status, out);
  if (req.method === "HEAD" || upstream.body === null) {
    res.end();
    return;
  }
  Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>)
    .on("error", () => res.destroy())
    .pipe(res);
}

/** Serves each model's files under its id (local files or the proxy), else hands the request to `next`. */
export function servedModelsHandler(models: readonly ServedModel[], next: Handler): Handler {
  const locals = new Map<string, Handler>();
  for (const m of models) {
    if (m.route.kind === "local") {
      const r = m.route;
      locals.set(m.id, createStaticHandler({ roots: [r.gguf ? dirname(r.path) : r.path] }));
    }
  }
  return (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
    for (const m of models) {
      const r = m.route;
      if (r.kind === "none") continue;
      const file = r.gguf
        ? path === `/models/${m.id}`
          ? ""
          : undefined
        : path.startsWith(`/models/${m.id}/`)
          ? path.slice(`/models/${m.id}/`.length)
          : undefined;
      if (file === undefined) continue;
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      if (r.kind === "local") {
        req.url = r.gguf ? `/${basename(r.path)}` : `/${file}`;
        locals.get(m.id)?.(req, res);
        return;
      }
      const url = r.gguf ? [...r.files.values()][0] : r.files.get(file);
      if (url === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not a file of this model\n");
        return;
      }
      void proxy(req, res, url, r.fetch);
      return;
    }
    next(req, res);
  };
}

/** Where a served model's files are for peers: its remote source, or its path on this server. */
export function servedSource(m: ServedModel): ModelSource {
  if (m.info.source !== undefined) return m.info.source;
  const gguf = m.route.kind === "local" && m.route.gguf;
  return {
    format: gguf ? "gguf" : "safetensors",
    url: gguf ? `/models/${m.id}` : `/models/${m.id}/`,
    files: [],
  };
}
