// Models `pipemesh serve --model PATH` serves from the local file system: a Hugging Face directory or a
// `.gguf` file, each under its own id at /models/<id>/ (directory) or /models/<id> (GGUF file), with HTTP
// Range for the peers' tensor reads. Checked at start-up (headers only), so an unreadable source is a coded
// error before any room exists. Only these paths are served, nothing beside them.

import { existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname, resolve } from "node:path";
import { isGgufLocation } from "@pipemesh/engine";
import { createStaticHandler } from "@pipemesh/mesh/node";
import type { ModelInfo } from "@pipemesh/mesh";
import { CliError } from "../cli-error.ts";
import { modelInfoFor } from "./model-info.ts";

export interface LocalModel {
  /** The room's model id (the path under /models/). */
  id: string;
  /** The absolute path of the directory or file. */
  path: string;
  gguf: boolean;
  info: ModelInfo;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A model id from a path's last component: characters a model id allows, nothing else. */
function idOf(path: string): string {
  const id = basename(path)
    .replace(/[^A-Za-z0-9_.:-]/g, "-")
    .replace(/^\.+/, "");
  return id === "" ? "model" : id;
}

/** Opens and describes `spec` (a directory or .gguf path); ERR_MODEL_SOURCE naming it and the cause. */
export async function openLocalModel(
  spec: string,
  taken: ReadonlySet<string>,
  ctx?: number,
): Promise<LocalModel> {
  const path = resolve(spec);
  const gguf = isGgufLocation(path);
  const fail = (cause: string): CliError =>
    new CliError("ERR_MODEL_SOURCE", `--model ${spec}: ${cause}`);
  if (!existsSync(path)) throw fail("no such file or directory");
  const st = statSync(path);
  if (gguf ? !st.isFile() : !st.isDirectory()) {
    throw fail(
      gguf ? "not a file" : "not a directory (a model is a Hugging Face directory or a .gguf file)",
    );
  }
  let id = idOf(path);
  for (let n = 2; taken.has(id); n++) id = `${idOf(path)}-${n}`;
  try {
    return { id, path, gguf, info: await modelInfoFor(path, id, undefined, ctx) };
  } catch (e) {
    throw fail((e as Error).message);
  }
}

/** Serves each model's files under its id, else hands the request to `next`. */
export function localModelsHandler(models: readonly LocalModel[], next: Handler): Handler {
  const routes = models.map((m) => ({
    m,
    files: createStaticHandler({ roots: [m.gguf ? dirname(m.path) : m.path] }),
  }));
  return (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
    for (const { m, files } of routes) {
      if (m.gguf && path === `/models/${m.id}`) {
        req.url = `/${basename(m.path)}`;
        files(req, res);
        return;
      }
      if (!m.gguf && path.startsWith(`/models/${m.id}/`)) {
        req.url = `/${path.slice(`/models/${m.id}/`.length)}`;
        files(req, res);
        return;
      }
    }
    next(req, res);
  };
}
