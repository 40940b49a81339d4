// loadOrtDrafter: a draft model directory with an ONNX export (onnx/model.onnx as the training tool and
// onnx-community write it, or model.onnx; external data beside it) to a ready OrtDrafter: reads the files
// with progress, checks the vocabulary against the target (ERR_DRAFT_VOCAB), creates the session on the
// chosen execution provider and checks its inputs/outputs (ERR_ONNX naming the file, input or output).

import { EngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import type { LoadProgress } from "../loader/load-weights.ts";
import { CONFIG_FILE, openUrlModelDir, readJsonFile } from "../loader/model-files.ts";
import { OrtDrafter, type OrtDrafterOptions } from "./ort-drafter.ts";
import {
  createOrtSession,
  type OrtProbe,
  type OrtProviderChoice,
  type OrtRuntimeOptions,
} from "./ort-runtime.ts";
import {
  checkDraftVocab,
  MAX_DRAFT_VOCAB_DIFFERENCE,
  readTokenizerJson,
  type TargetVocab,
} from "./vocab-check.ts";

/** Where an ONNX draft model may sit in its directory, in order of preference. */
export const ONNX_MODEL_FILES = ["onnx/model.onnx", "model.onnx"] as const;
const EXTERNAL_DATA_SUFFIXES = ["_data", ".data"];
const READ_CHUNK_BYTES = 8 * 1024 * 1024;

export interface DraftLoadProgress extends LoadProgress {
  /** "read": file bytes (doneBytes/totalBytes); "session": compiling; "ready": done. */
  phase: "read" | "session" | "ready";
}

export interface LoadOrtDrafterOptions extends OrtDrafterOptions {
  /** The draft model directory: a path (with openDir from @pipemesh/engine/node) or a URL. */
  draftDir: string;
  /** The ONNX file inside draftDir (default: the first of ONNX_MODEL_FILES that exists). */
  onnxFile?: string | undefined;
  /** The target's vocabulary (loadTargetVocab) or config; without either the vocabulary is unchecked. */
  targetVocab?: TargetVocab | undefined;
  /** Default "auto": WebGPU when an adapter exists and is faster on this model, else wasm. */
  executionProvider?: OrtProviderChoice | undefined;
  runtime?: OrtRuntimeOptions | undefined;
  openDir?: ((location: string) => ModelDir) | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: DraftLoadProgress) => void) | undefined;
  /** What "auto" measured. */
  onProbe?: ((p: OrtProbe) => void) | undefined;
}

/** The first ONNX_MODEL_FILES entry present in `dir`, or undefined. */
export async function findOnnxModel(
  dir: ModelDir,
  signal?: AbortSignal,
): Promise<string | undefined> {
  for (const name of ONNX_MODEL_FILES) if (await dir.has(name, signal)) return name;
  return undefined;
}

interface DraftConfigFacts {
  vocabSize?: number | undefined;
  maxPositions?: number | undefined;
  kvHeads?: number | undefined;
  headDim?: number | undefined;
}

/** The few config.json fields the ORT drafter uses (any architecture: no full config parse). */
async function readConfigFacts(dir: ModelDir, signal?: AbortSignal): Promise<DraftConfigFacts> {
  if (!(await dir.has(CONFIG_FILE, signal))) return {};
  const json = await readJsonFile(dir, CONFIG_FILE, signal);
  const c = (json !== null && typeof json === "object" ? json : {}) as Record<string, unknown>;
  const num = (k: string): number | undefined => {
    const v = c[k];
    return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
  };
  const heads = num("num_attention_heads");
  const hidden = num("hidden_size");
  return {
    vocabSize: num("vocab_size"),
    maxPositions: num("max_position_embeddings"),
    kvHeads: num("num_key_value_heads") ?? heads,
    headDim:
      num("head_dim") ?? (heads !== undefined && hidden !== undefined ? hidden / heads : undefined),
  };
}

export async function loadOrtDrafter(options: LoadOrtDrafterOptions): Promise<OrtDrafter> {
  const { signal } = options;
  const progress = options.onProgress;
  const dir = (options.openDir ?? openUrlModelDir)(options.draftDir);
  const file = options.onnxFile ?? (await findOnnxModel(dir, signal));
  if (file === undefined || !(await dir.has(file, signal))) {
    const names = options.onnxFile ?? ONNX_MODEL_FILES.join(" or ");
    throw new EngineError(
      "ERR_ONNX",
      `${dir.location} has no ONNX model (${names} is missing); an ONNX draft directory holds ` +
        `onnx/model.onnx (tools/train-default-model exports one) or use --drafter engine`,
    );
  }
  const facts = await readConfigFacts(dir, signal);
  if (options.targetVocab !== undefined && facts.vocabSize !== undefined) {
    const tokenizerJson =
      options.targetVocab.tokenizerJson === undefined
        ? undefined
        : await readTokenizerJson(dir, signal);
    checkDraftVocab(
      options.targetVocab,
      tokenizerJson === undefined
        ? { vocabSize: facts.vocabSize }
        : { vocabSize: facts.vocabSize, tokenizerJson },
      dir.location,
    );
  }
  const extra: string[] = [];
  for (const suffix of EXTERNAL_DATA_SUFFIXES) {
    if (await dir.has(`${file}${suffix}`, signal)) extra.push(`${file}${suffix}`);
  }
  const sizes = await Promise.all([file, ...extra].map((f) => dir.open(f).size(signal)));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  let doneBytes = 0;
  const read = async (name: string, size: number): Promise<Uint8Array> => {
    const src = dir.open(name);
    const out = new Uint8Array(size);
    for (let off = 0; off < size; off += READ_CHUNK_BYTES) {
      const part = await src.read(off, Math.min(READ_CHUNK_BYTES, size - off), signal);
      out.set(part, off);
      doneBytes += part.byteLength;
      progress?.({ phase: "read", doneBytes, totalBytes });
    }
    return out;
  };
  progress?.({ phase: "read", doneBytes: 0, totalBytes });
  const model = await read(file, sizes[0] ?? 0);
  const externalData = [];
  for (const [i, name] of extra.entries()) {
    externalData.push({
      path: name.split("/").pop() ?? name,
      data: await read(name, sizes[i + 1] ?? 0),
    });
  }
  progress?.({ phase: "session", doneBytes, totalBytes });
  const session = await createOrtSession(
    {
      model,
      externalData: externalData.length > 0 ? externalData : undefined,
      location: `${dir.location}/${file}`,
      hints: { kvHeads: facts.kvHeads, headDim: facts.headDim },
      vocabSize: facts.vocabSize,
    },
    options.executionProvider ?? "auto",
    options.runtime,
    options.onProbe,
  );
  if (
    options.targetVocab !== undefined &&
    Math.abs(session.info.vocabSize - options.targetVocab.vocabSize) > MAX_DRAFT_VOCAB_DIFFERENCE
  ) {
    await session.release();
    throw new EngineError(
      "ERR_DRAFT_VOCAB",
      `the ONNX draft ${dir.location}/${file} has ${session.info.vocabSize} logits, the target's vocab_size is ${options.targetVocab.vocabSize} (more than ${MAX_DRAFT_VOCAB_DIFFERENCE} trailing ids apart); a draft must share the target's tokenizer`,
    );
  }
  if (signal?.aborted === true) {
    await session.release();
    throw new EngineError("ERR_ABORTED", "loading the ONNX draft was aborted");
  }
  progress?.({ phase: "ready", doneBytes, totalBytes });
  return new OrtDrafter(session, {
    ...options,
    maxPositions: options.maxPositions ?? facts.maxPositions,
  });
}
