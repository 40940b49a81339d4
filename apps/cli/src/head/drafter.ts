// The head's draft model for the CLI, behind the mesh's Drafter port: `--drafter ort` runs the draft
// directory's ONNX export on onnxruntime-web (wasm, in this process), `--drafter engine` its safetensors on
// the engine's CPU backend; without --drafter, ort when the directory holds an .onnx model. Checks the
// vocabulary against the target. The generation JSON reports `name`.

import { loadDrafter, loadTargetVocab, type ModelConfig } from "@pipemesh/engine";
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
  opts: GenerateOptions,
  target: { dir: string; config: ModelConfig },
  signal: AbortSignal,
): Promise<OpenedDrafter> {
  const targetVocab = await loadTargetVocab(openModelDir(target.dir), signal);
  const loaded = await loadDrafter({
    draftDir,
    kind: opts.drafter,
    targetVocab,
    openDir: openModelDir,
    signal,
    // Node's onnxruntime-web is wasm only; the engine drafter runs on the CPU backend in this process.
    ort: { executionProvider: "wasm" },
    engine: { backend: "cpu" },
  });
  const drafter = loaded.drafter satisfies Drafter;
  return {
    drafter,
    name: loaded.name,
    maxPositions: loaded.maxPositions,
    destroy: () => drafter.destroy(),
  };
}
