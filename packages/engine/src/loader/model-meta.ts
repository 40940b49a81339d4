// Everything about a model except its weights, in one call: the parsed config and the tokenizer with its
// chat template, from a model directory (path or URL via the caller's ModelDir). What a head needs before
// it loads any shard.

import type { ModelConfig } from "../config.ts";
import { loadTokenizer, type TextTokenizer } from "../tokenizer/text-tokenizer.ts";
import type { ModelDir } from "./byte-source.ts";
import { loadGenerationEosIds } from "./generation-config.ts";
import { loadModelConfig } from "./model-files.ts";

export interface ModelMeta {
  config: ModelConfig;
  tokenizer: TextTokenizer;
  /**
   * Ids that end generation: config.json's eos ids, generation_config.json's (chat-turn enders live
   * there), and the tokenizer's eos token, deduplicated.
   */
  stopTokenIds: number[];
}

export async function loadModelMeta(dir: ModelDir, signal?: AbortSignal): Promise<ModelMeta> {
  const [config, tokenizer, generationEos] = await Promise.all([
    loadModelConfig(dir, signal),
    loadTokenizer(dir, signal),
    loadGenerationEosIds(dir, signal),
  ]);
  const stop = new Set([...config.eosTokenIds, ...generationEos]);
  if (tokenizer.eosTokenId !== undefined) stop.add(tokenizer.eosTokenId);
  return { config, tokenizer, stopTokenIds: [...stop] };
}
