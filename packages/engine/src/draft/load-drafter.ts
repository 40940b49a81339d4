// loadDrafter: picks and loads the head's draft model from a draft directory: the ORT drafter when the
// directory holds an ONNX export (onnx/model.onnx or model.onnx), else the engine drafter on its
// safetensors; `kind` forces one. Reports the name the generation JSON uses ("onnxruntime-web" or
// "engine") and the draft's context limit. Not a loader itself: ort-load.ts and load-engine-drafter.ts are.

import type { ModelConfig } from "../config.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { loadModelConfig, openUrlModelDir } from "../loader/model-files.ts";
import type { ShardBackend } from "../model/shard-spec.ts";
import type { DraftModel } from "./draft-model.ts";
import { loadEngineDrafter } from "./load-engine-drafter.ts";
import { findOnnxModel, loadOrtDrafter, type DraftLoadProgress } from "./ort-load.ts";
import type { OrtDrafterOptions } from "./ort-drafter.ts";
import type { OrtProbe, OrtProviderChoice, OrtRuntimeOptions } from "./ort-runtime.ts";
import type { TargetVocab } from "./vocab-check.ts";
import { VocabAdaptedDrafter } from "./vocab-adapter.ts";

export type DrafterKind = "ort" | "engine";

/** The generation JSON's `drafter` value per kind. */
export const DRAFTER_NAMES = { ort: "onnxruntime-web", engine: "engine" } as const;
export type DrafterName = (typeof DRAFTER_NAMES)[DrafterKind];

export interface LoadDrafterOptions {
  draftDir: string;
  /** Undefined: "ort" when the directory holds an ONNX model, else "engine". */
  kind?: DrafterKind | undefined;
  /** The target's vocabulary (loadTargetVocab), or its config (vocab_size only); neither: unchecked. */
  targetVocab?: TargetVocab | undefined;
  targetConfig?: ModelConfig | undefined;
  openDir?: ((location: string) => ModelDir) | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: DraftLoadProgress) => void) | undefined;
  /** ORT drafter: the ONNX file, execution provider, runtime and cache options. */
  ort?:
    | (OrtDrafterOptions & {
        onnxFile?: string | undefined;
        executionProvider?: OrtProviderChoice | undefined;
        runtime?: OrtRuntimeOptions | undefined;
        onProbe?: ((p: OrtProbe) => void) | undefined;
      })
    | undefined;
  /** Engine drafter: backend (default cpu), KV size, device. */
  engine?:
    | {
        backend?: ShardBackend | undefined;
        kvCells?: number | undefined;
        maxSeqs?: number | undefined;
        device?: unknown;
      }
    | undefined;
}

export interface LoadedDrafter {
  drafter: DraftModel;
  kind: DrafterKind;
  name: DrafterName;
  /** Most positions the draft model takes (MAX_SAFE_INTEGER when its files name no limit). */
  maxPositions: number;
  /** "wasm" or "webgpu" for ORT; the shard backend for the engine drafter. */
  executionProvider: string;
}

/** "ort" when `dir` holds an ONNX model, else "engine". */
export async function chooseDrafterKind(dir: ModelDir, signal?: AbortSignal): Promise<DrafterKind> {
  return (await findOnnxModel(dir, signal)) === undefined ? "engine" : "ort";
}

/** The drafter seen through the target's vocabulary when the two differ in trailing ids. */
function inTargetVocab(drafter: DraftModel, target: { vocabSize: number } | undefined): DraftModel {
  return target === undefined || target.vocabSize === drafter.vocabSize
    ? drafter
    : new VocabAdaptedDrafter(drafter, target.vocabSize);
}

export async function loadDrafter(options: LoadDrafterOptions): Promise<LoadedDrafter> {
  const { signal } = options;
  const openDir = options.openDir ?? openUrlModelDir;
  const dir = openDir(options.draftDir);
  const kind = options.kind ?? (await chooseDrafterKind(dir, signal));
  const targetVocab =
    options.targetVocab ??
    (options.targetConfig === undefined
      ? undefined
      : { vocabSize: options.targetConfig.vocabSize });
  if (kind === "ort") {
    const drafter = await loadOrtDrafter({
      ...options.ort,
      draftDir: options.draftDir,
      targetVocab,
      openDir: () => dir,
      signal,
      onProgress: options.onProgress,
    });
    return {
      drafter: inTargetVocab(drafter, targetVocab),
      kind,
      name: DRAFTER_NAMES.ort,
      maxPositions: drafter.maxPositions,
      executionProvider: drafter.executionProvider,
    };
  }
  const config = await loadModelConfig(dir, signal);
  const backend = options.engine?.backend ?? "cpu";
  const progress = options.onProgress;
  let last = { doneBytes: 0, totalBytes: 0 };
  const drafter = await loadEngineDrafter({
    draftDir: options.draftDir,
    // Without a target the vocabulary is unchecked, as for the ORT drafter.
    targetVocab: targetVocab ?? { vocabSize: config.vocabSize },
    backend,
    kvCells: options.engine?.kvCells,
    maxSeqs: options.engine?.maxSeqs,
    device: options.engine?.device,
    openDir: () => dir,
    signal,
    onProgress: (p) => {
      last = p;
      progress?.({ ...p, phase: "read" });
    },
  });
  progress?.({ ...last, phase: "ready" });
  return {
    drafter: inTargetVocab(drafter, targetVocab),
    kind,
    name: DRAFTER_NAMES.engine,
    maxPositions: config.maxPositions,
    executionProvider: backend,
  };
}
