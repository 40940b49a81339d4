// The Node half of model sources: nodeLocalFiles (the file system as resolveModelSource and
// openResolvedModelDir take it) and openModelSource, which resolves any model spec (a path, a .gguf
// file, an http(s) URL, hf:OWNER/REPO[@REV][/FILE.gguf]) with process.env and opens it. Node-only.

import { stat } from "node:fs/promises";
import type { ModelDir } from "../loader/byte-source.ts";
import { openResolvedModelDir, type OpenModelSourceOptions } from "../loader/source/open-source.ts";
import type { ModelSpec } from "../loader/source/model-spec.ts";
import {
  resolveModelSource,
  type LocalFiles,
  type ModelSourceOptions,
  type ResolvedModelSource,
} from "../loader/source/resolve-source.ts";
import { FileModelDir, FileSource } from "./file-source.ts";

/** The local file system for model sources. */
export const nodeLocalFiles: LocalFiles = {
  async kind(path) {
    try {
      const st = await stat(path);
      return st.isDirectory() ? "dir" : st.isFile() ? "file" : "missing";
    } catch {
      return "missing";
    }
  },
  openDir: (path) => new FileModelDir(path),
  openFile: (path) => new FileSource(path),
};

/** Resolves `spec` (local paths through the file system) and opens it; ERR_MODEL_SOURCE if it cannot be. */
export async function openModelSource(
  spec: string | ModelSpec,
  options: ModelSourceOptions & OpenModelSourceOptions = {},
): Promise<{ resolved: ResolvedModelSource; dir: ModelDir }> {
  const withLocal = { ...options, local: options.local ?? nodeLocalFiles };
  const resolved = await resolveModelSource(spec, withLocal);
  return { resolved, dir: openResolvedModelDir(resolved, withLocal) };
}
