// The head of a CLI generation: model files, tokenizer, draft model, the pipeline (one local worker or a
// mesh of peer processes) and the PipeInfer scheduler, opened together and destroyed together.
// Decisions (which mode, which tokens) are the scheduler's; this file only wires engine and mesh.

import {
  resolveModelSource,
  kvCacheBytes,
  loadGenerationEosIds,
  loadModelConfig,
  loadTokenizer,
  StreamDecoder,
  type ModelConfig,
  type TextTokenizer,
} from "@pipemesh/engine";
import { createNodeShardClient, openModelDir } from "@pipemesh/engine/node";
import {
  LocalPipeline,
  PipeInferScheduler,
  requiredSeqIds,
  resolveConfig,
  type PipelinePort,
  type StageRunner,
} from "@pipemesh/mesh";
import type { GenerateOptions } from "../args.ts";
import { CliError } from "../cli-error.ts";
import { openDrafter, type OpenedDrafter } from "./drafter.ts";
import { chooseModels, readDefaultPair, type ModelChoice } from "./models.ts";
import { checkSameModel, peekRoomModel } from "./room-model.ts";
import { defaultKvCells, SPECULATIVE_CELLS } from "./model-info.ts";
import type { PlanEntry } from "./result-json.ts";
import { modelledDrafter } from "./modelled-drafter.ts";
import { modelledStage } from "../peer/modelled-stage.ts";

export interface HeadSession {
  scheduler: PipeInferScheduler;
  tokenizer: TextTokenizer | undefined;
  decoder: StreamDecoder | undefined;
  stopTokenIds: number[];
  backend: string;
  drafterName: string | null;
  plan: PlanEntry[];
  destroy(): Promise<void>;
}

export interface OpenHeadOptions {
  signal: AbortSignal;
  log: (message: string) => void;
}

/**
 * The target and draft to open: --model/--draft, or the embedded pair; in a room, the room's model (from
 * its server) unless --model names the same model, with a draft only for the embedded pair's room.
 */
async function modelsFor(
  opts: GenerateOptions,
): Promise<ModelChoice & { contextLength?: number | undefined }> {
  if (opts.room === undefined) {
    const { target, draft } = chooseModels(opts.model, opts.draft);
    return {
      target: await locationOf(target),
      draft: draft === undefined ? undefined : await locationOf(draft),
    };
  }
  const room = await peekRoomModel(opts.room);
  const contextLength = room.info.contextLength;
  if (opts.model !== undefined) {
    await checkSameModel(opts.model, room.info);
    return { target: opts.model, draft: opts.draft, contextLength };
  }
  const pair = chooseModels(undefined, opts.draft);
  const name = readDefaultPair().name;
  if (room.info.id === name || room.info.id === `${name}/target`) return { ...pair, contextLength };
  return { target: room.location, draft: opts.draft, contextLength };
}

/**
 * Where a model spec's files are read from: local paths as given, http(s) URLs and hf: ids resolved (a Hub
 * id to its pinned resolve URL). Files that need HF_TOKEN are served by `pipemesh serve`, not read here.
 */
async function locationOf(spec: string): Promise<string> {
  if (!/^(hf:|https?:\/\/)/i.test(spec)) return spec;
  const resolved = await resolveModelSource(spec);
  if (resolved.needsToken) {
    throw new CliError(
      "ERR_MODEL_SOURCE",
      `${spec} needs HF_TOKEN for every read; serve it with pipemesh serve --model and generate --room`,
    );
  }
  return resolved.location;
}

export async function openHead(opts: GenerateOptions, o: OpenHeadOptions): Promise<HeadSession> {
  const models = await modelsFor(opts);
  const dir = openModelDir(models.target);
  const config = await loadModelConfig(dir, o.signal);
  const tokenizer = await loadTokenizer(dir, o.signal).catch((e: unknown) => {
    if (opts.promptIds !== undefined) return undefined; // --prompt-ids: a tokenizer is optional
    throw e;
  });
  const stop = new Set([...config.eosTokenIds, ...(await loadGenerationEosIds(dir, o.signal))]);
  if (tokenizer?.eosTokenId !== undefined) stop.add(tokenizer.eosTokenId);

  const cleanups: (() => Promise<void>)[] = [];
  const destroy = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const wantsDraft = opts.mode !== "plain" && models.draft !== undefined;
    const drafter: OpenedDrafter | null = wantsDraft
      ? await openDrafter(models.draft ?? "", opts, { dir: models.target, config }, o.signal)
      : null;
    if (drafter !== null) cleanups.push(() => drafter.destroy());
    const specDefaults = resolveConfig(
      { mode: opts.mode, speculation: speculationOf(opts) },
      drafter !== null,
    );
    const maxPositions = Math.min(config.maxPositions, drafter?.maxPositions ?? Infinity);
    const kvCells =
      opts.kvCells ?? defaultKvCells({ maxPositions }, opts.ctx ?? models.contextLength);
    const maxSeqs = Math.max(64, requiredSeqIds(specDefaults.speculation));
    const { pipeline, plan, destroyPipeline } = await openPipeline(opts, models.target, config, {
      kvCells,
      maxSeqs,
      log: o.log,
      signal: o.signal,
    });
    cleanups.push(destroyPipeline);
    const scheduler = new PipeInferScheduler(
      {
        pipeline,
        drafter: drafter === null ? null : modelledDrafter(drafter.drafter, opts.modelledDraftMs),
        decode: tokenizer === undefined ? undefined : (ids) => tokenizer.decode(ids),
      },
      {
        mode: opts.mode,
        speculation: speculationOf(opts),
        maxContextTokens: Math.min(maxPositions, kvCells - SPECULATIVE_CELLS),
        maxSeqIds: maxSeqs,
      },
    );
    cleanups.push(() => scheduler.destroy());
    return {
      scheduler,
      tokenizer,
      decoder: tokenizer === undefined ? undefined : new StreamDecoder(tokenizer),
      stopTokenIds: [...stop],
      backend: opts.backend,
      drafterName: drafter?.name ?? null,
      plan,
      destroy,
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}

export function speculationOf(opts: GenerateOptions): Record<string, number | boolean | undefined> {
  return {
    draftBranches: opts.draftBranches,
    draftMax: opts.draftMax,
    pAccept: opts.pAccept,
    pSplit: opts.pSplit,
    pRecovery: opts.pRecovery,
    pDecay: opts.pDecay,
    maxInFlightRuns: opts.maxInFlight,
    calibrate: opts.calibrate,
    governor: opts.governor,
  };
}

export interface PipelineSetup {
  kvCells: number;
  maxSeqs: number;
  log: (message: string) => void;
  signal: AbortSignal;
}

/** The pipeline a generation runs on: one local worker, N local peer processes, or an existing room. */
export async function openPipeline(
  opts: GenerateOptions,
  model: string,
  config: ModelConfig,
  s: PipelineSetup,
): Promise<{ pipeline: PipelinePort; plan: PlanEntry[]; destroyPipeline: () => Promise<void> }> {
  if (opts.room !== undefined) {
    const { joinAsHead } = await import("./mesh-pipeline.ts");
    return joinAsHead(opts.room, config, opts, { log: s.log, signal: s.signal }, null);
  }
  if (opts.peers > 1) {
    const { openMeshPipeline } = await import("./mesh-pipeline.ts");
    return openMeshPipeline(opts, model, config, { log: s.log, signal: s.signal });
  }
  const shard = await createNodeShardClient(
    {
      model,
      layerStart: 0,
      layerEnd: config.numLayers,
      embeds: true,
      head: true,
      backend: opts.backend,
      kvCells: s.kvCells,
      maxSeqs: s.maxSeqs,
    },
    { signal: s.signal },
  );
  s.log(`pipemesh: 1 local peer, layers 0-${config.numLayers} on ${shard.info.adapter}`);
  const runner: StageRunner =
    opts.modelledStageMs > 0 || opts.modelledRowMs > 0
      ? modelledStage(
          shard,
          { stageMs: opts.modelledStageMs, rowMs: opts.modelledRowMs },
          config.numLayers,
        )
      : shard;
  const pipeline = new LocalPipeline({
    runners: [runner],
    hopLatencyMs: opts.linkLatencyMs,
  });
  return {
    pipeline,
    plan: [
      {
        peerId: "local-0",
        layerStart: 0,
        layerEnd: config.numLayers,
        weightBytes: shard.info.weightBytes,
        kvBytes: kvCacheBytes(config, config.numLayers, s.kvCells),
      },
    ],
    destroyPipeline: async () => {
      await shard.destroy();
    },
  };
}
