// Does a draft model speak the target's vocabulary? Compares config vocab_size (trailing added tokens may
// differ, up to 128 ids, as llama.cpp allows) and, when both tokenizer tables are at hand, the token at every
// id both have; a difference is ERR_DRAFT_VOCAB naming the first differing id. Not a tokenizer: it only
// reads the JSON tables.

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

/** How many trailing ids a draft's vocabulary may have more or fewer than the target's (as llama.cpp). */
export const MAX_DRAFT_VOCAB_DIFFERENCE = 128;

/**
 * Throws ERR_DRAFT_VOCAB unless the draft speaks the target's vocabulary: the same token at every id both
 * have (when both tokenizer tables are at hand), and sizes that differ only by trailing added tokens, at
 * most MAX_DRAFT_VOCAB_DIFFERENCE of them. The message names the first id that differs.
 */
export function checkDraftVocab(
  target: TargetVocab,
  draft: TargetVocab,
  draftLocation: string,
): void {
  const fail = (why: string): EngineError =>
    new EngineError(
      "ERR_DRAFT_VOCAB",
      `the draft model ${draftLocation} ${why}; a draft must share the target's tokenizer`,
    );
  const gap = Math.abs(draft.vocabSize - target.vocabSize);
  if (gap > MAX_DRAFT_VOCAB_DIFFERENCE) {
    throw fail(
      `has vocab_size ${draft.vocabSize}, the target ${target.vocabSize} (more than ${MAX_DRAFT_VOCAB_DIFFERENCE} trailing ids apart; first differing id ${Math.min(draft.vocabSize, target.vocabSize)})`,
    );
  }
  const t = tokenizerTable(target.tokenizerJson);
  const d = tokenizerTable(draft.tokenizerJson);
  if (t === undefined || d === undefined) return;
  const byId = (table: Map<string, number>): Map<number, string> =>
    new Map([...table].map(([token, id]) => [id, token]));
  const tIds = byId(t);
  const dIds = byId(d);
  const shared = Math.min(draft.vocabSize, target.vocabSize);
  for (let id = 0; id < shared; id++) {
    const a = tIds.get(id);
    const b = dIds.get(id);
    if (a !== b) {
      throw fail(
        `differs from the target at id ${id} (${b === undefined ? "absent" : JSON.stringify(b)} in the draft, ${a === undefined ? "absent" : JSON.stringify(a)} in the target)`,
      );
    }
  }
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
