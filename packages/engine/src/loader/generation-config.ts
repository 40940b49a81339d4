// generation_config.json: the ids that end a generation (eos_token_id, a number or a list). Hugging Face
// keeps chat-turn enders such as <|end|> there rather than in config.json. Optional: absent is fine.
// A GGUF file's are its tokenizer.ggml eos/eot/eom ids.

import { EngineError } from "../errors.ts";
import { ggufEosTokenIds } from "./gguf/gguf-config.ts";
import type { ModelDir } from "./byte-source.ts";
import { isGgufModelDir } from "./gguf-model.ts";

export const GENERATION_CONFIG_FILE = "generation_config.json";

/** eos_token_id from generation_config.json ([] when the file or the field is absent). */
export async function loadGenerationEosIds(dir: ModelDir, signal?: AbortSignal): Promise<number[]> {
  if (isGgufModelDir(dir)) return ggufEosTokenIds(await dir.header(signal));
  if (!(await dir.has(GENERATION_CONFIG_FILE, signal))) return [];
  let json: unknown;
  try {
    json = JSON.parse(await dir.readText(GENERATION_CONFIG_FILE, signal));
  } catch (e) {
    throw new EngineError(
      "ERR_CONFIG_INVALID",
      `${dir.location}/${GENERATION_CONFIG_FILE} is not valid JSON: ${(e as Error).message}`,
    );
  }
  const v = (json as { eos_token_id?: unknown } | null)?.eos_token_id;
  const ids = typeof v === "number" ? [v] : Array.isArray(v) ? v : [];
  if (!ids.every((x): x is number => Number.isInteger(x) && (x as number) >= 0)) {
    throw new EngineError(
      "ERR_CONFIG_INVALID",
      `${GENERATION_CONFIG_FILE}: eos_token_id must be ids`,
    );
  }
  return ids;
}
