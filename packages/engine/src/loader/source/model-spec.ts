// The one model-source syntax of `--model` and `--draft`: a local directory in Hugging Face layout, a local
// `.gguf` file (a path or a file: URL), an http(s) URL (a directory base or a `.gguf` file), or a Hugging
// Face Hub id `hf:OWNER/REPO[@REVISION][/FILE.gguf]`. Parsing only: nothing here touches the file system or
// the network (resolve-source.ts does), so it runs the same in browsers and in Node.

import { EngineError } from "../../errors.ts";
import { isGgufLocation } from "../gguf-model.ts";

/** A parsed model source. `spec` is always the text it was parsed from. */
export type ModelSpec =
  | { kind: "dir"; spec: string; path: string }
  | { kind: "gguf-file"; spec: string; path: string }
  | { kind: "url-dir"; spec: string; url: string }
  | { kind: "url-gguf"; spec: string; url: string }
  | {
      kind: "hub";
      spec: string;
      /** OWNER/REPO. */
      repo: string;
      /** A branch, tag or commit; undefined means the repository's default (`main`). */
      revision?: string | undefined;
      /** A `.gguf` file in the repository (its path inside it); undefined for a directory model. */
      file?: string | undefined;
    };

export type ModelSpecKind = ModelSpec["kind"];

export const HUB_PREFIX = "hf:";

/** Owner and repository names as the Hub allows them (letters, digits, `-`, `_`, `.`; no leading `.`/`-`). */
const HUB_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}$/;

/** ERR_MODEL_SOURCE naming the spec and the cause. */
export function modelSourceError(spec: string, cause: string, err?: unknown): EngineError {
  return new EngineError(
    "ERR_MODEL_SOURCE",
    `model source "${spec}": ${cause}`,
    err === undefined ? undefined : { cause: err },
  );
}

function parseHub(spec: string): ModelSpec {
  const body = spec.slice(HUB_PREFIX.length);
  const bad = (why: string): EngineError =>
    modelSourceError(spec, `${why} (expected hf:OWNER/REPO[@REVISION][/FILE.gguf])`);
  if (body.startsWith("//")) throw bad("a Hub id has no `//`");
  const parts = body.split("/");
  const owner = parts[0] ?? "";
  const second = parts[1] ?? "";
  const at = second.indexOf("@");
  const name = at < 0 ? second : second.slice(0, at);
  const rawRevision = at < 0 ? undefined : second.slice(at + 1);
  if (!HUB_NAME.test(owner)) throw bad(`"${owner}" is not a Hub owner name`);
  if (!HUB_NAME.test(name)) throw bad(`"${name}" is not a Hub repository name`);
  let revision: string | undefined;
  if (rawRevision !== undefined) {
    try {
      revision = decodeURIComponent(rawRevision);
    } catch {
      throw bad(`revision "${rawRevision}" is not valid percent-encoding`);
    }
    if (revision === "" || /[\s?#]/.test(revision) || revision.includes("..")) {
      throw bad(`"${rawRevision}" is not a revision (a slash in one is written %2F)`);
    }
  }
  const rest = parts.slice(2);
  let file: string | undefined;
  if (rest.length > 0) {
    if (rest.some((p) => p === "" || p === "." || p === ".." || /[?#\\]/.test(p))) {
      throw bad(`"${rest.join("/")}" is not a file path inside the repository`);
    }
    file = rest.join("/");
    if (!isGgufLocation(file)) {
      throw bad(
        `"${file}" is not a .gguf file; a Hugging Face directory model is named by the repository alone`,
      );
    }
  }
  return { kind: "hub", spec, repo: `${owner}/${name}`, revision, file };
}

function parseUrl(spec: string): ModelSpec {
  let url: URL;
  try {
    url = new URL(spec);
  } catch (e) {
    throw modelSourceError(spec, "not a valid URL", e);
  }
  if (url.hostname === "") throw modelSourceError(spec, "the URL has no host");
  return isGgufLocation(url.href)
    ? { kind: "url-gguf", spec, url: url.href }
    : { kind: "url-dir", spec, url: url.href };
}

function filePath(spec: string): string {
  let url: URL;
  try {
    url = new URL(spec);
  } catch (e) {
    throw modelSourceError(spec, "not a valid file: URL", e);
  }
  if (url.host !== "" && url.host !== "localhost") {
    throw modelSourceError(spec, `a file: URL on another host (${url.host}) cannot be read`);
  }
  try {
    return decodeURIComponent(url.pathname);
  } catch (e) {
    throw modelSourceError(spec, "the file: URL's path is not valid percent-encoding", e);
  }
}

/**
 * Parses a model source. Throws ERR_MODEL_SOURCE for an empty spec, a malformed Hub id or URL, and any
 * scheme other than hf:, http:, https: and file:. A path is not checked for existence here.
 */
export function parseModelSpec(spec: string): ModelSpec {
  const text = spec.trim();
  if (text === "") throw modelSourceError(spec, "empty model source");
  if (text.slice(0, HUB_PREFIX.length).toLowerCase() === HUB_PREFIX) {
    return parseHub(HUB_PREFIX + text.slice(HUB_PREFIX.length));
  }
  if (/^https?:/i.test(text)) {
    if (!/^https?:\/\//i.test(text)) throw modelSourceError(spec, "an http(s) URL needs `//`");
    return parseUrl(text);
  }
  let path = text;
  if (/^file:/i.test(text)) {
    path = filePath(text);
  } else {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
    if (scheme !== undefined) {
      throw modelSourceError(
        spec,
        `unknown scheme "${scheme}:" (a model is a directory, a .gguf file, an http(s) URL or hf:OWNER/REPO)`,
      );
    }
  }
  return isGgufLocation(path)
    ? { kind: "gguf-file", spec: text, path }
    : { kind: "dir", spec: text, path };
}

/** Whether a spec names a GGUF file (otherwise a Hugging Face directory). */
export function isGgufSpec(spec: ModelSpec): boolean {
  return (
    spec.kind === "gguf-file" ||
    spec.kind === "url-gguf" ||
    (spec.kind === "hub" && spec.file !== undefined)
  );
}

/** A short name for display and ids: the last path component (a GGUF file keeps `.gguf`), or the Hub repo's. */
export function modelSpecName(spec: ModelSpec): string {
  let raw: string;
  if (spec.kind === "hub") {
    raw = spec.file ?? spec.repo;
  } else if (spec.kind === "url-dir" || spec.kind === "url-gguf") {
    try {
      raw = decodeURIComponent(new URL(spec.url).pathname);
    } catch {
      raw = spec.url;
    }
  } else {
    raw = spec.path;
  }
  const trimmed = raw.replace(/[\\/]+$/, "");
  const last = trimmed.slice(Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\")) + 1);
  const name = last.replace(/[^A-Za-z0-9_.:-]/g, "-").replace(/^\.+/, "");
  return name === "" ? "model" : name;
}
