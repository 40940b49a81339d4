// loadEngineDrafter: a draft model directory (Hugging Face layout) to a ready EngineDrafter: checks that it
// shares the target's vocabulary (ERR_DRAFT_VOCAB), then loads the whole model as one shard on the chosen
// backend (CPU by default, WebGPU when asked). Not the target's loader; the head loads its stages elsewhere.

import type { ModelConfig } from "../config.ts";
import { EngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import type { LoadProgress } from "../loader/load-weights.ts";
import { loadModelConfig, openUrlModelDir } from "../loader/model-files.ts";
import { loadLayerShard } from "../model/create-shard.ts";
import type { ShardBackend } from "../model/shard-spec.ts";
import { EngineDrafter } from "./engine-drafter.ts";
import { checkDraftVocab, readTokenizerJson, type TargetVocab } from "./vocab-check.ts";

/** Speculative rows on top of the longest context, in the default KV size. */
export const DRAFT_KV_SLACK_CELLS = 256;
/** The default KV size covers contexts up to this many tokens (or the draft's own limit if smaller). */
export const DEFAULT_DRAFT_CONTEXT = 4096;

export interface LoadEngineDrafterOptions {
  /** The draft model directory: a path (with openDir from @pipemesh/engine/node) or a URL. */
  draftDir: string;
  /** The target's config (its vocab_size is compared); or targetVocab. */
  targetConfig?: ModelConfig | undefined;
  /** The target's vocabulary (loadTargetVocab); with tokenizer.json the token tables are compared too. */
  targetVocab?: TargetVocab | undefined;
  /** Default "cpu". */
  backend?: ShardBackend | undefined;
  /** KV cells; default min(draft context, 4096) + 256. */
  kvCells?: number | undefined;
  /** Sequence ids (cached branches + 1); default the shard's (64). */
  maxSeqs?: number | undefined;
  /** Rows per shard run (see EngineDrafterOptions). */
  maxBatchRows?: number | undefined;
  openDir?: ((location: string) => ModelDir) | undefined;
  /** The GPUDevice for the WebGPU backend (default: the backend requests its own). */
  device?: unknown;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
}

export async function loadEngineDrafter(options: LoadEngineDrafterOptions): Promise<EngineDrafter> {
  const { signal } = options;
  const target: TargetVocab | undefined =
    options.targetVocab ??
    (options.targetConfig === undefined
      ? undefined
      : { vocabSize: options.targetConfig.vocabSize });
  if (target === undefined) {
    throw new EngineError(
      "ERR_DRAFT_VOCAB",
      "loadEngineDrafter needs the target's vocabulary (targetConfig or targetVocab)",
    );
  }
  const dir = (options.openDir ?? openUrlModelDir)(options.draftDir);
  const config = await loadModelConfig(dir, signal);
  const draftTokenizer =
    target.tokenizerJson === undefined ? undefined : await readTokenizerJson(dir, signal);
  checkDraftVocab(
    target,
    draftTokenizer === undefined
      ? { vocabSize: config.vocabSize }
      : { vocabSize: config.vocabSize, tokenizerJson: draftTokenizer },
    dir.location,
  );
  const shard = await loadLayerShard(
    {
      model: options.draftDir,
      layerStart: 0,
      layerEnd: config.numLayers,
      embeds: true,
      tail: true,
      backend: options.backend ?? "cpu",
      kvCells:
        options.kvCells ??
        Math.min(config.maxPositions, DEFAULT_DRAFT_CONTEXT) + DRAFT_KV_SLACK_CELLS,
      maxSeqs: options.maxSeqs,
    },
    {
      openDir: () => dir,
      config,
      signal,
      onProgress: options.onProgress,
      device: options.device,
    },
  );
  try {
    return new EngineDrafter(shard, {
      maxPositions: config.maxPositions,
      maxBatchRows: options.maxBatchRows,
    });
  } catch (e) {
    await shard.destroy();
    throw e;
  }
}
