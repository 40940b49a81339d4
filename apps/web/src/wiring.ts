// The web app's adapters between the engine and the mesh, each fit checked with `satisfies`: a
// contributor's and the chat head's loadStage (engine shard in a Web Worker, WebGPU or CPU backend), the
// head's draft model and the PipeInfer scheduler over a session's pipeline. KV sizing and the drafter
// policy are @pipemesh/head's (the CLI uses the same), with the app's context cap.

import {
  createBrowserShardClient,
  loadModelMeta,
  openUrlModelDir,
  type LoadProgress,
  type ModelConfig,
  type ModelMeta,
  type ShardBackend,
  type ShardClient,
} from "@pipemesh/engine";
import {
  browserPlatform,
  kvSizing as headKvSizing,
  openDrafter as openHeadDrafter,
  type KvSizing,
  type OpenedDrafter,
} from "@pipemesh/head";
import {
  MeshError,
  PipeInferScheduler,
  type DecodeMode,
  type Drafter,
  type LoadedStage,
  type LoadStage,
  type PipelinePort,
  type StageLoadSpec,
} from "@pipemesh/mesh";
import type { AppConfig } from "./config.ts";
import { AppError } from "./errors.ts";
import { loadTargetConfig, type ModelSource } from "./model/model-source.ts";

export type { KvSizing, OpenedDrafter };

/** K/V sizing for a model: the room's context length when it names one, else the app's default cap. */
export function kvSizing(config: ModelConfig, app: AppConfig, contextLength?: number): KvSizing {
  return headKvSizing(config, contextLength, app.maxContextTokens);
}

export interface StageLoaderOptions {
  app: AppConfig;
  /** The files of the plan's model id. */
  resolve: (modelId: string, signal: AbortSignal) => Promise<ModelSource>;
  /** Backend for a spec: the contributor's choice; the chat head uses the CPU for an embeddings-only shard. */
  backend: (spec: StageLoadSpec) => ShardBackend;
  /** Told about each shard once it is loaded (adapter, bytes). */
  onLoaded?: (shard: ShardClient, spec: StageLoadSpec) => void;
}

/** The mesh's LoadStage on the engine: one shard worker per assignment. */
export function stageLoader(o: StageLoaderOptions): LoadStage {
  const load = async (
    spec: StageLoadSpec,
    onProgress: (fraction: number) => void,
    signal: AbortSignal,
  ): Promise<LoadedStage> => {
    try {
      const named = await o.resolve(spec.modelId, signal);
      // A room whose model lives elsewhere (a URL, a Hub file) says where in its plan.
      const source =
        spec.modelUrl === undefined
          ? named
          : { ...named, targetUrl: new URL(spec.modelUrl, globalThis.location.href).href };
      const config = await loadTargetConfig(source, signal);
      const kv = kvSizing(config, o.app, spec.contextLength);
      const shard = await createBrowserShardClient(
        {
          model: source.targetUrl,
          layerStart: spec.layerStart,
          layerEnd: spec.layerEnd,
          embeds: spec.embeds,
          head: spec.head,
          backend: o.backend(spec),
          kvCells: kv.kvCells,
          maxSeqs: kv.maxSeqs,
        },
        {
          signal,
          onProgress: (p: LoadProgress) =>
            onProgress(p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 1),
        },
      );
      o.onLoaded?.(shard, spec);
      return shard satisfies LoadedStage;
    } catch (e) {
      if (signal.aborted)
        throw new MeshError("ERR_ABORTED", "the assignment changed while loading");
      if (e instanceof AppError) throw e;
      throw new AppError(
        "ERR_MODEL_LOAD",
        `layers ${spec.layerStart}-${spec.layerEnd} of "${spec.modelId}" failed to load: ${String(e)}`,
        { cause: e },
      );
    }
  };
  return load satisfies LoadStage;
}

/** Tokenizer, chat template, stop ids and config of the room's target model. */
export async function loadHeadMeta(source: ModelSource, signal?: AbortSignal): Promise<ModelMeta> {
  try {
    return await loadModelMeta(openUrlModelDir(source.targetUrl), signal);
  } catch (e) {
    throw new AppError(
      "ERR_MODEL_LOAD",
      `the tokenizer or config of "${source.id}" failed to load: ${String(e)}`,
      { cause: e },
    );
  }
}

/** The head's draft model in its own worker (@pipemesh/head's policy); null without a draft model. */
export async function openDrafter(
  source: ModelSource,
  app: AppConfig,
  signal: AbortSignal,
): Promise<OpenedDrafter | null> {
  if (source.draftUrl === undefined) return null;
  return openHeadDrafter({
    platform: browserPlatform({ draftProvider: app.draftProvider }),
    target: source.targetUrl,
    draft: source.draftUrl,
    kind: app.drafterKind === "auto" ? undefined : app.drafterKind,
    signal,
  });
}

/** The PipeInfer scheduler over a session's pipeline; throws ERR_NO_DRAFT for speculation without a draft. */
export function createScheduler(
  pipeline: PipelinePort,
  drafter: Drafter | null,
  meta: ModelMeta,
  mode: DecodeMode,
  kv: KvSizing,
  drafterMaxPositions = Number.POSITIVE_INFINITY,
): PipeInferScheduler {
  return new PipeInferScheduler(
    { pipeline, drafter, decode: (ids) => meta.tokenizer.decode(ids) },
    {
      mode,
      maxContextTokens: Math.min(kv.contextTokens, drafterMaxPositions),
      maxSeqIds: kv.maxSeqs,
    },
  );
}
