// resolveModelSource: from a model spec (model-spec.ts) to the list of files a loader will read, with their
// sizes and, where the server says, their sha256, and for a Hub id the commit the revision pointed at.
// It reads only small things: HEAD requests (GET bytes=0-0 where HEAD is refused), config presence and
// model.safetensors.index.json; never a weight file. Hub ids go through the Hub's resolve URLs only
// (`{endpoint}/{repo}/resolve/{revision}/{file}`; no /api routes), with the endpoint from HF_ENDPOINT and
// the token from HF_TOKEN, sent only to the endpoint's origin. Local paths need an injected LocalFiles
// (src/node/model-source.ts), so this file stays browser-safe. Opening the result: open-source.ts.

import { isEngineError, throwIfAborted } from "../../errors.ts";
import type { ByteSource, ModelDir } from "../byte-source.ts";
import { joinUrl, type FetchFn } from "../http-source.ts";
import { modelSourceError, modelSpecName, parseModelSpec, type ModelSpec } from "./model-spec.ts";
import { followScoped } from "./scoped-fetch.ts";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";
export const SAFETENSORS_FILE = "model.safetensors";
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";
/** Files of a Hugging Face directory model that are read when present. */
export const OPTIONAL_MODEL_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "generation_config.json",
  "chat_template.jinja",
] as const;
/** The largest index JSON resolution reads. */
export const MAX_INDEX_BYTES = 32 * 1024 * 1024;

export type Env = Readonly<Record<string, string | undefined>>;

/** The local file system, injected (Node: nodeLocalFiles from @pipemesh/engine/node). */
export interface LocalFiles {
  /** What is at `path`. */
  kind(path: string): Promise<"dir" | "file" | "missing">;
  openDir(path: string): ModelDir;
  openFile(path: string): ByteSource;
}

export interface ModelSourceFile {
  /** The file's name in the model (its path relative to the directory, or the GGUF file's name). */
  name: string;
  /** Where to read it: a URL, or a path for a local source. */
  url: string;
  size: number;
  /** The content's sha256 (lowercase hex) when the server names it (Hub LFS files). */
  sha256?: string | undefined;
  /** The server's entity tag, as sent (without quotes and W/). */
  etag?: string | undefined;
}

export interface ResolvedModelSource {
  spec: ModelSpec;
  /** A short name, safe as an id (letters, digits, `_ . : -`); a GGUF file keeps `.gguf`. */
  name: string;
  format: "safetensors" | "gguf";
  /** A directory path or base URL (safetensors), or the file's path or URL (gguf). */
  location: string;
  /** Hub ids: the commit the revision resolved to (X-Repo-Commit), else the revision asked for. */
  revision?: string | undefined;
  /** The Hub endpoint whose origin alone gets the token (http(s) and Hub sources). */
  endpoint?: string | undefined;
  /** Every file a loader may read, weights included. */
  files: ModelSourceFile[];
  /** Whether reading the files needed the token (the server refused them without it). */
  needsToken: boolean;
}

export interface ModelSourceOptions {
  /** The Hub endpoint (default: env.HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string | undefined;
  /** The Hub token (default: env.HF_TOKEN); sent only to the endpoint's origin. */
  token?: string | undefined;
  fetch?: FetchFn | undefined;
  signal?: AbortSignal | undefined;
  /** Environment to read HF_ENDPOINT and HF_TOKEN from (default: process.env where there is one). */
  env?: Env | undefined;
  /** The local file system; without it local paths are ERR_MODEL_SOURCE. */
  local?: LocalFiles | undefined;
}

function defaultEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
  return proc?.env ?? {};
}

/** The endpoint (no trailing slash) and token the options and environment give. */
export function hubSettings(options: Pick<ModelSourceOptions, "endpoint" | "token" | "env">): {
  endpoint: string;
  token: string | undefined;
} {
  const env = options.env ?? defaultEnv();
  const endpoint = (options.endpoint ?? (env.HF_ENDPOINT || undefined) ?? DEFAULT_HF_ENDPOINT)
    .trim()
    .replace(/\/+$/, "");
  const token = options.token ?? (env.HF_TOKEN || undefined);
  return { endpoint, token: token === "" ? undefined : token };
}

/** The URL of `file` in a Hub repo at `revision`. */
export function hubResolveUrl(
  endpoint: string,
  repo: string,
  revision: string,
  file: string,
): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${hubBaseUrl(endpoint, repo, revision)}/${path}`;
}

function hubBaseUrl(endpoint: string, repo: string, revision: string): string {
  return `${endpoint.replace(/\/+$/, "")}/${repo}/resolve/${encodeURIComponent(revision)}`;
}

function unquote(tag: string | null): string | undefined {
  if (tag === null) return undefined;
  const t = tag
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
  return t === "" ? undefined : t;
}

const SHA256 = /^[0-9a-f]{64}$/i;
const COMMIT = /^[0-9a-f]{40}$/i;

function count(value: string | null): number | undefined {
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/** What one HEAD (or bytes=0-0 GET) said about a file. */
interface Probe {
  size: number;
  sha256?: string | undefined;
  etag?: string | undefined;
  commit?: string | undefined;
}

/** Reads a probe's headers: the first hop is the endpoint's own answer, the last the file server's. */
function readProbe(hops: readonly Headers[], final: Response, method: string): Probe | undefined {
  const first = hops[0] ?? final.headers;
  const pick = (name: string): string | null => {
    for (const h of hops) {
      const v = h.get(name);
      if (v !== null) return v;
    }
    return null;
  };
  const linkedEtag = unquote(pick("x-linked-etag"));
  const etag = linkedEtag ?? unquote(first.get("etag")) ?? unquote(final.headers.get("etag"));
  const candidates = [linkedEtag, unquote(first.get("etag")), unquote(final.headers.get("etag"))];
  const sha256 = candidates.find((t) => t !== undefined && SHA256.test(t))?.toLowerCase();
  const commit = pick("x-repo-commit")?.trim();
  const total = /\/(\d+)\s*$/.exec(final.headers.get("content-range") ?? "")?.[1];
  const size =
    count(pick("x-linked-size")) ??
    (total !== undefined ? Number(total) : undefined) ??
    (method === "HEAD" && final.status === 200
      ? count(final.headers.get("content-length"))
      : undefined);
  if (size === undefined) return undefined;
  return {
    size,
    sha256,
    etag,
    commit: commit !== undefined && COMMIT.test(commit) ? commit.toLowerCase() : undefined,
  };
}

/** HTTP state shared by one resolution: whether the token is in use yet. */
class HttpResolver {
  readonly #spec: string;
  readonly #endpoint: string;
  readonly #token: string | undefined;
  readonly #fetch: FetchFn | undefined;
  readonly #signal: AbortSignal | undefined;
  useToken = false;

  constructor(spec: string, endpoint: string, options: ModelSourceOptions, token?: string) {
    this.#spec = spec;
    this.#endpoint = endpoint;
    this.#token = token;
    this.#fetch = options.fetch;
    this.#signal = options.signal;
  }

  #throwIfAborted(): void {
    throwIfAborted(this.#signal, `resolving ${this.#spec}`);
  }

  async #request(url: string, init: RequestInit): Promise<{ res: Response; hops: Headers[] }> {
    this.#throwIfAborted();
    try {
      const { response, hops } = await followScoped(
        url,
        this.#signal === undefined ? init : { ...init, signal: this.#signal },
        {
          token: this.useToken ? this.#token : undefined,
          origin: this.#endpoint,
          fetch: this.#fetch,
        },
      );
      return { res: response, hops };
    } catch (e) {
      this.#throwIfAborted();
      const why = isEngineError(e) ? e.message : (e as Error).message;
      throw modelSourceError(this.#spec, `${url}: ${why}`, e);
    }
  }

  /** Requests `url`, once more with the token after a 401/403 when there is one; null for 404/410. */
  async #send(url: string, init: RequestInit): Promise<{ res: Response; hops: Headers[] } | null> {
    let got = await this.#request(url, init);
    if ((got.res.status === 401 || got.res.status === 403) && !this.useToken && this.#token) {
      await got.res.body?.cancel();
      this.useToken = true;
      got = await this.#request(url, init);
    }
    const { res } = got;
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return null;
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      const code = res.headers.get("x-error-code");
      const hint = this.useToken
        ? "no such repository, or the token was not accepted for it"
        : code === "RepoNotFound"
          ? "no such repository, or it is private: set HF_TOKEN to a token that may read it"
          : "the repository is gated or private: set HF_TOKEN to a token that may read it";
      throw modelSourceError(
        this.#spec,
        `${url}: HTTP ${res.status}${code === null ? "" : ` ${code}`} (${hint})`,
      );
    }
    return got;
  }

  /** A file's size, hashes and commit from headers; null when it does not exist. */
  async probe(url: string): Promise<Probe | null> {
    const head = { method: "HEAD", headers: { "accept-encoding": "identity" } };
    let got = await this.#send(url, head);
    if (got === null) return null;
    let method = "HEAD";
    if (got.res.status === 405 || got.res.status === 501) {
      // No HEAD: the first byte tells the total in Content-Range.
      method = "GET";
      got = await this.#send(url, {
        headers: { range: "bytes=0-0", "accept-encoding": "identity" },
      });
      if (got === null) return null;
    }
    const { res, hops } = got;
    await res.body?.cancel();
    if (!res.ok) throw modelSourceError(this.#spec, `${url}: HTTP ${res.status}`);
    const probe = readProbe(hops, res, method);
    if (probe === undefined) {
      throw modelSourceError(this.#spec, `${url}: the server sent no size (Content-Length)`);
    }
    return probe;
  }

  /** A small JSON file (an index), bounded by MAX_INDEX_BYTES. */
  async readJson(url: string): Promise<unknown> {
    const got = await this.#send(url, { headers: { "accept-encoding": "identity" } });
    if (got === null) throw modelSourceError(this.#spec, `${url}: HTTP 404 (not found)`);
    const { res } = got;
    if (!res.ok) {
      await res.body?.cancel();
      throw modelSourceError(this.#spec, `${url}: HTTP ${res.status}`);
    }
    const declared = count(res.headers.get("content-length"));
    if (declared !== undefined && declared > MAX_INDEX_BYTES) {
      await res.body?.cancel();
      throw modelSourceError(this.#spec, `${url}: ${declared} bytes is too large for an index`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw modelSourceError(this.#spec, `${url}: ${(e as Error).message}`, e);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw modelSourceError(this.#spec, `${url} is not valid JSON: ${(e as Error).message}`, e);
    }
  }
}

/** One way to look at the files of a directory model: by name, to a file entry or null. */
interface DirProber {
  probe(name: string): Promise<ModelSourceFile | null>;
  readJson(name: string): Promise<unknown>;
}

/** The distinct shard file names of a model.safetensors.index.json, checked to stay inside the model. */
function indexShards(spec: string, json: unknown): string[] {
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw modelSourceError(spec, `${SAFETENSORS_INDEX_FILE} has no weight_map object`);
  }
  const names = new Set<string>();
  for (const v of Object.values(map as Record<string, unknown>)) {
    if (
      typeof v !== "string" ||
      v === "" ||
      /^[\\/]/.test(v) ||
      v.split(/[\\/]/).some((p) => p === ".." || p === "")
    ) {
      throw modelSourceError(
        spec,
        `${SAFETENSORS_INDEX_FILE} names ${JSON.stringify(v)}, not a file in the model`,
      );
    }
    names.add(v);
  }
  if (names.size === 0) throw modelSourceError(spec, `${SAFETENSORS_INDEX_FILE} names no files`);
  return [...names].sort();
}

/** The files of a Hugging Face directory model: config.json, the optional files, the weights. */
async function listDirectory(
  spec: string,
  where: string,
  p: DirProber,
): Promise<ModelSourceFile[]> {
  // config.json first and alone: on the Hub its answer pins the revision for every later request.
  const config = await p.probe("config.json");
  if (config === null) {
    throw modelSourceError(
      spec,
      `${where} has no config.json (not a Hugging Face model directory)`,
    );
  }
  const [single, index, ...optional] = await Promise.all([
    p.probe(SAFETENSORS_FILE),
    p.probe(SAFETENSORS_INDEX_FILE),
    ...OPTIONAL_MODEL_FILES.map((n) => p.probe(n)),
  ]);
  const files = [config, ...optional.filter((f): f is ModelSourceFile => f !== null)];
  if (single !== null && single !== undefined) return [...files, single];
  if (index === null || index === undefined) {
    throw modelSourceError(
      spec,
      `${where} has neither ${SAFETENSORS_FILE} nor ${SAFETENSORS_INDEX_FILE}`,
    );
  }
  const names = indexShards(spec, await p.readJson(SAFETENSORS_INDEX_FILE));
  const shards = await Promise.all(names.map((n) => p.probe(n)));
  const missing = names.filter((_, i) => shards[i] === null);
  if (missing.length > 0) {
    throw modelSourceError(
      spec,
      `${SAFETENSORS_INDEX_FILE} names ${missing.join(", ")}, which ${where} does not have`,
    );
  }
  return [...files, index, ...(shards as ModelSourceFile[])];
}

function fileEntry(name: string, url: string, probe: Probe): ModelSourceFile {
  return { name, url, size: probe.size, sha256: probe.sha256, etag: probe.etag };
}

async function resolveHub(
  spec: Extract<ModelSpec, { kind: "hub" }>,
  options: ModelSourceOptions,
): Promise<ResolvedModelSource> {
  const { endpoint, token } = hubSettings(options);
  checkEndpoint(spec.spec, endpoint);
  const http = new HttpResolver(spec.spec, endpoint, options, token);
  let revision = spec.revision ?? "main";
  let pinned = false;
  const probeHub = async (name: string): Promise<ModelSourceFile | null> => {
    const probe = await http.probe(hubResolveUrl(endpoint, spec.repo, revision, name));
    if (probe === null) return null;
    if (!pinned && probe.commit !== undefined) revision = probe.commit;
    pinned = true; // only the first answer pins; later files are read at that revision
    return fileEntry(name, hubResolveUrl(endpoint, spec.repo, revision, name), probe);
  };
  const base = { spec, name: modelSpecName(spec), endpoint };
  if (spec.file !== undefined) {
    const file = await probeHub(spec.file);
    if (file === null) {
      throw modelSourceError(
        spec.spec,
        `${hubResolveUrl(endpoint, spec.repo, revision, spec.file)}: HTTP 404 (no such repository, revision or file)`,
      );
    }
    const name = file.name.slice(file.name.lastIndexOf("/") + 1);
    return {
      ...base,
      format: "gguf",
      location: file.url,
      revision,
      files: [{ ...file, name }],
      needsToken: http.useToken,
    };
  }
  const where = `${spec.repo}@${spec.revision ?? "main"} on ${endpoint}`;
  const files = await listDirectory(spec.spec, where, {
    probe: probeHub,
    readJson: (name) => http.readJson(hubResolveUrl(endpoint, spec.repo, revision, name)),
  });
  return {
    ...base,
    format: "safetensors",
    location: hubBaseUrl(endpoint, spec.repo, revision),
    revision,
    files,
    needsToken: http.useToken,
  };
}

function checkEndpoint(spec: string, endpoint: string): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw modelSourceError(
      spec,
      `the Hub endpoint "${endpoint}" (HF_ENDPOINT) is not an http(s) URL`,
    );
  }
}

async function resolveUrl(
  spec: Extract<ModelSpec, { kind: "url-dir" | "url-gguf" }>,
  options: ModelSourceOptions,
): Promise<ResolvedModelSource> {
  const { endpoint, token } = hubSettings(options);
  const http = new HttpResolver(spec.spec, endpoint, options, token);
  const base = { spec, name: modelSpecName(spec), endpoint };
  if (spec.kind === "url-gguf") {
    const probe = await http.probe(spec.url);
    if (probe === null) throw modelSourceError(spec.spec, `${spec.url}: HTTP 404 (not found)`);
    const name = modelSpecName(spec);
    return {
      ...base,
      format: "gguf",
      location: spec.url,
      files: [fileEntry(name, spec.url, probe)],
      needsToken: http.useToken,
    };
  }
  const location = spec.url.replace(/\/+$/, "");
  const files = await listDirectory(spec.spec, location, {
    probe: async (name) => {
      const url = joinUrl(location, name);
      const probe = await http.probe(url);
      return probe === null ? null : fileEntry(name, url, probe);
    },
    readJson: (name) => http.readJson(joinUrl(location, name)),
  });
  return { ...base, format: "safetensors", location, files, needsToken: http.useToken };
}

function joinPath(dir: string, name: string): string {
  return /[\\/]$/.test(dir) ? `${dir}${name}` : `${dir}/${name}`;
}

async function resolveLocal(
  spec: Extract<ModelSpec, { kind: "dir" | "gguf-file" }>,
  local: LocalFiles | undefined,
  signal: AbortSignal | undefined,
): Promise<ResolvedModelSource> {
  if (local === undefined) {
    throw modelSourceError(
      spec.spec,
      "a local path needs the file system (pass `local`: nodeLocalFiles from @pipemesh/engine/node); in a browser use an http(s) URL",
    );
  }
  const kind = await local.kind(spec.path);
  const want = spec.kind === "dir" ? "dir" : "file";
  if (kind !== want) {
    throw modelSourceError(
      spec.spec,
      kind === "missing"
        ? "no such file or directory"
        : want === "dir"
          ? "not a directory (a model is a Hugging Face directory or a .gguf file)"
          : "not a file",
    );
  }
  const name = modelSpecName(spec);
  const base = { spec, name, needsToken: false };
  const sized = async (src: ByteSource, what: string): Promise<number> => {
    try {
      return await src.size(signal);
    } catch (e) {
      if (isEngineError(e, "ERR_ABORTED")) throw e;
      throw modelSourceError(spec.spec, `${what}: ${(e as Error).message}`, e);
    }
  };
  if (spec.kind === "gguf-file") {
    const size = await sized(local.openFile(spec.path), spec.path);
    return {
      ...base,
      format: "gguf",
      location: spec.path,
      files: [{ name, url: spec.path, size }],
    };
  }
  const dir = local.openDir(spec.path);
  const files = await listDirectory(spec.spec, spec.path, {
    probe: async (file) => {
      if (!(await dir.has(file, signal))) return null;
      const path = joinPath(spec.path, file);
      return { name: file, url: path, size: await sized(dir.open(file), path) };
    },
    readJson: async (file) => {
      let text: string;
      try {
        text = await dir.readText(file, signal);
      } catch (e) {
        if (isEngineError(e, "ERR_ABORTED")) throw e;
        throw modelSourceError(spec.spec, (e as Error).message, e);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw modelSourceError(spec.spec, `${file} is not valid JSON: ${(e as Error).message}`, e);
      }
    },
  });
  return { ...base, format: "safetensors", location: spec.path, files };
}

/**
 * Resolves a model source (a spec string or a parsed ModelSpec) to its files, reading only headers and
 * small JSON. Unknown or unreadable sources reject with ERR_MODEL_SOURCE naming the spec and the cause;
 * an aborted signal with ERR_ABORTED.
 */
export async function resolveModelSource(
  spec: string | ModelSpec,
  options: ModelSourceOptions = {},
): Promise<ResolvedModelSource> {
  const parsed = typeof spec === "string" ? parseModelSpec(spec) : spec;
  switch (parsed.kind) {
    case "hub":
      return resolveHub(parsed, options);
    case "url-dir":
    case "url-gguf":
      return resolveUrl(parsed, options);
    case "dir":
    case "gguf-file":
      return resolveLocal(parsed, options.local, options.signal);
  }
}
