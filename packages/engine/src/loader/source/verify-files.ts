// Checks an opened model against its room's descriptor before any weight is read: every weight file the
// descriptor lists (safetensors files, or the GGUF file) has the size it says, so a peer never loads layers
// from a file that is not the room's. Sizes come from the sources' HEAD (or Range) answers; content hashes
// are the cache's business (per stored piece). Not a resolver.

import { EngineError } from "../../errors.ts";
import type { ModelDir } from "../byte-source.ts";
import { isGgufModelDir } from "../gguf-model.ts";

export interface DescribedFile {
  name: string;
  size: number;
}

/** ERR_MODEL_SOURCE naming the file when an opened weight file's size differs from the descriptor's. */
export async function verifyModelFiles(
  dir: ModelDir,
  files: readonly DescribedFile[],
  signal?: AbortSignal,
): Promise<void> {
  const weights = isGgufModelDir(dir)
    ? files.slice(0, 1)
    : files.filter((f) => f.name.endsWith(".safetensors"));
  for (const f of weights) {
    const size = isGgufModelDir(dir)
      ? await dir.file.size(signal)
      : await dir.open(f.name).size(signal);
    if (size !== f.size) {
      throw new EngineError(
        "ERR_MODEL_SOURCE",
        `${dir.location}: ${f.name} has ${size} bytes, the room's model says ${f.size}; not the room's file`,
      );
    }
  }
}
