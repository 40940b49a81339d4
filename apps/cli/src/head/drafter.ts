// The head's draft model for the CLI: the engine drafter (any Hugging Face-layout draft directory, run on
// the CPU backend in this process) behind the mesh's Drafter port. Checks the vocabulary against the target.

import {
  loadEngineDrafter,
  loadModelConfig,
  loadTargetVocab,
  type ModelConfig,
} from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import type { Drafter } from "@pipemesh/mesh";
import type { GenerateOptions } from "../args.ts";

export interface OpenedDrafter {
  drafter: Drafter;
  /** "engine" or "onnxruntime-web", as the generation JSON reports it. */
  name: string;
  /** Most positions the draft model can hold. */
  maxPositions: number;
  destroy(): Promise<void>;
}

export async function openDrafter(
  draftDir: string,
  _opts: GenerateOptions,
  target: { dir: string; config: ModelConfig },
  signal: AbortSignal,
): Promise<OpenedDrafter> {
  const targetVocab = await loadTargetVocab(openModelDir(target.dir), signal);
  const draftConfig = await loadModelConfig(openModelDir(draftDir), signal);
  const drafter = await loadEngineDrafter({
    draftDir,
    targetVocab,
    backend: "cpu",
    openDir: openModelDir,
    signal,
  });
  return {
    drafter: drafter satisfies Drafter,
    name: "engine",
    maxPositions: draftConfig.maxPositions,
    destroy: () => drafter.destroy(),
  };
}
