// openResolvedModelDir: a ModelDir over a resolved model source (resolve-source.ts): a GgufModelDir for a
// GGUF file, an HttpModelDir for a URL or Hub directory, the injected local file system for paths. Its
// HTTP reads follow redirects with the token scoped to the Hub endpoint's origin (scoped-fetch.ts), so a
// CDN a file redirects to never sees it. Browser-safe: local paths need the injected LocalFiles.

import type { ModelDir } from "../byte-source.ts";
import { GgufModelDir } from "../gguf-model.ts";
import { HttpModelDir, HttpSource, type FetchFn, type HttpOptions } from "../http-source.ts";
import { modelSourceError } from "./model-spec.ts";
import {
  hubSettings,
  type Env,
  type LocalFiles,
  type ResolvedModelSource,
} from "./resolve-source.ts";
import { scopedFetch } from "./scoped-fetch.ts";

export interface OpenModelSourceOptions {
  /** The Hub token (default: env.HF_TOKEN); sent only to the resolved endpoint's origin. */
  token?: string | undefined;
  fetch?: FetchFn | undefined;
  env?: Env | undefined;
  /** The local file system, for local paths. */
  local?: LocalFiles | undefined;
  /** A weight cache for HTTP range reads (HttpOptions.cache). */
  cache?: HttpOptions["cache"];
}

/** Opens a resolved source for loading (nothing is read until asked). ERR_MODEL_SOURCE if it cannot be. */
export function openResolvedModelDir(
  resolved: ResolvedModelSource,
  options: OpenModelSourceOptions = {},
): ModelDir {
  const { spec } = resolved;
  if (spec.kind === "dir" || spec.kind === "gguf-file") {
    const local = options.local;
    if (local === undefined) {
      throw modelSourceError(
        spec.spec,
        "a local path needs the file system (pass `local`: nodeLocalFiles from @pipemesh/engine/node)",
      );
    }
    return resolved.format === "gguf"
      ? new GgufModelDir(local.openFile(resolved.location))
      : local.openDir(resolved.location);
  }
  const { token } = hubSettings({ token: options.token, env: options.env });
  if (resolved.needsToken && token === undefined) {
    throw modelSourceError(spec.spec, "reading it needs a token: set HF_TOKEN");
  }
  const fetch = scopedFetch({
    token,
    origin: resolved.endpoint ?? hubSettings({ env: options.env }).endpoint,
    fetch: options.fetch,
  });
  const http: HttpOptions = { fetch, cache: options.cache };
  return resolved.format === "gguf"
    ? new GgufModelDir(new HttpSource(resolved.location, http))
    : new HttpModelDir(resolved.location, http);
}
