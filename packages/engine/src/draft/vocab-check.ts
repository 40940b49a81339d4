// Does a draft model speak the target's vocabulary? Compares config vocab_size and, when both tokenizer.json
// files are at hand, their token -> id tables (model vocab plus added tokens); a difference is
// ERR_DRAFT_VOCAB naming both sizes. Not a tokenizer: it only reads the JSON tables.

import { EngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { loadModelConfig, readJsonFile } from "../loader/model-files.ts";
import { TOKENIZER_FILE } from "../tokenizer/text-tokenizer.ts";
import { isGgufModelDir } from "../loader/gguf-model.ts";
import { ggufTokenizerParts } from "../tokenizer/gguf-tokenizer.ts";

/** What a draft model must agree with. */
export interface TargetVocab {
  /** The target's config.json vocab_size. */
  vocabSize: number;
  /** The target's parsed tokenizer.json, when available (its token table is then compared too). */
  tokenizerJson?: unknown;
}

type Json = Record<string, unknown>;

/** token -> id from a tokenizer.json (BPE/WordPiece/WordLevel dict or Unigram list, plus added tokens). */
export function tokenizerTable(json: unknown): Map<string, number> | undefined {
  if (json === null || typeof json !== "object") return undefined;
  const model = (json as Json)["model"];
  const vocab = model !== null && typeof model === "object" ? (model as Json)["vocab"] : undefined;
  const table = new Map<string, number>();
  if (Array.isArray(vocab)) {
    vocab.forEach((entry, id) => {
      const piece: unknown = Array.isArray(entry) ? entry[0] : undefined;
      if (typeof piece === "string") table.set(piece, id);
    });
  } else if (vocab !== null && typeof vocab === "object") {
    for (const [token, id] of Object.entries(vocab as Json)) {
      if (typeof id === "number") table.set(token, id);
    }
  } else {
    return undefined;
  }
  const added = (json as Json)["added_tokens"];
  if (Array.isArray(added)) {
    for (const t of added as Json[]) {
      if (typeof t["content"] === "string" && typeof t["id"] === "number") {
        table.set(t["content"], t["id"]);
      }
    }
  }
  return table;
}

/** Throws ERR_DRAFT_VOCAB when the draft's vocabulary differs from the target's. */
export function checkDraftVocab(
  target: TargetVocab,
  draft: TargetVocab,
  draftLocation: string,
): void {
  if (draft.vocabSize !== target.vocabSize) {
    throw new EngineError(
      "ERR_DRAFT_VOCAB",
      `the draft model ${draftLocation} has vocab_size ${draft.vocabSize}, the target ${target.vocabSize}; a draft must share the target's tokenizer`,
    );
  }
  const t = tokenizerTable(target.tokenizerJson);
  const d = tokenizerTable(draft.tokenizerJson);
  if (t === undefined || d === undefined) return;
  let diff: string | undefined;
  for (const [token, id] of d) {
    const tid = t.get(token);
    if (tid !== id) {
      diff = `token ${JSON.stringify(token)} is id ${id} in the draft and ${tid === undefined ? "absent" : `id ${tid}`} in the target`;
      break;
    }
  }
  if (diff === undefined && d.size === t.size) return;
  throw new EngineError(
    "ERR_DRAFT_VOCAB",
    `the draft tokenizer of ${draftLocation} has ${d.size} tokens, the target's ${t.size}` +
      `${diff === undefined ? "" : ` (${diff})`}; a draft must share the target's tokenizer`,
  );
}

/** The parsed tokenizer.json of a model directory, or undefined when it has none. */
export async function readTokenizerJson(dir: ModelDir, signal?: AbortSignal): Promise<unknown> {
  if (isGgufModelDir(dir)) {
    const header = await dir.header(signal);
    return header.metadata.has("tokenizer.ggml.tokens")
      ? ggufTokenizerParts(header).tokenizerJson
      : undefined;
  }
  if (!(await dir.has(TOKENIZER_FILE, signal))) return undefined;
  return readJsonFile(dir, TOKENIZER_FILE, signal);
}

/** A target model's vocabulary (config vocab_size and tokenizer.json when present), for loadEngineDrafter. */
export async function loadTargetVocab(dir: ModelDir, signal?: AbortSignal): Promise<TargetVocab> {
  const [config, tokenizerJson] = await Promise.all([
    loadModelConfig(dir, signal),
    readTokenizerJson(dir, signal),
  ]);
  return tokenizerJson === undefined
    ? { vocabSize: config.vocabSize }
    : { vocabSize: config.vocabSize, tokenizerJson };
}
