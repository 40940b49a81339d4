// The head of a CLI generation: which model files (--model/--draft, the embedded pair, or the room's
// model) and which pipeline (one local worker, N peer processes, or a room), handed to @pipemesh/head's
// openHead, which owns everything else. Benchmark settings (--modelled-draft-ms) wrap the platform here,
// from outside the head.

import { kvCacheBytes, resolveModelSource, type ModelConfig } from "@pipemesh/engine";
import { createNodeShardClient, defaultCacheDir } from "@pipemesh/engine/node";
import { LoadMeter } from "../peer/load-meter.ts";
import { openHead, type Head, type HeadPlatform, type OpenedPipeline } from "@pipemesh/head";
import { nodePlatform } from "@pipemesh/head/node";
import { LocalPipeline, type StageRunner } from "@pipemesh/mesh";
import type { GenerateOptions } from "../args.ts";
import { CliError } from "../cli-error.ts";
import { chooseModels, readDefaultPair, type ModelChoice } from "./models.ts";
import { modelledDrafter } from "./modelled-drafter.ts";
import { checkSameModel, peekRoomModel } from "./room-model.ts";
import { modelledStage } from "../peer/modelled-stage.ts";

export interface OpenCliHeadOptions {
  signal: AbortSignal;
  log: (message: string) => void;
  /** Open the pipeline now (default), or at the first generation. */
  connect?: boolean;
}

/**
 * The target and draft to open: --model/--draft, or the embedded pair; in a room, the room's model (from
 * its server) unless --model names the same model, with the room's draft (or the embedded pair's).
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
  return { target: room.location, draft: opts.draft ?? room.draftLocation, contextLength };
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

/** The Node platform, its drafter slowed by --modelled-draft-ms (benchmarks). */
function platformFor(opts: GenerateOptions): HeadPlatform {
  if (opts.modelledDraftMs <= 0) return nodePlatform;
  return {
    ...nodePlatform,
    loadDrafter: async (r) => {
      const d = await nodePlatform.loadDrafter(r);
      return { ...d, drafter: modelledDrafter(d.drafter, opts.modelledDraftMs) };
    },
  };
}

/** Opens the head and, unless told otherwise, its pipeline (so the plan is known before the first token). */
export async function openCliHead(opts: GenerateOptions, o: OpenCliHeadOptions): Promise<Head> {
  const models = await modelsFor(opts);
  const head = await openHead({
    target: models.target,
    draft: models.draft,
    drafterKind: opts.drafter,
    mode: opts.mode,
    platform: platformFor(opts),
    speculation: speculationOf(opts),
    contextLength: opts.ctx ?? models.contextLength,
    kvCells: opts.kvCells,
    recovery: opts.recovery,
    tokenizerOptional: opts.promptIds !== undefined,
    signal: o.signal,
    pipeline: (setup) => openPipeline(opts, models.target, setup.config, { ...setup, log: o.log }),
  });
  if (o.connect === false) return head;
  try {
    await head.connect(o.signal);
    return head;
  } catch (e) {
    await head.destroy();
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
    speculateCorrections: opts.corrections,
    maxPartitions: opts.maxPartitions,
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
): Promise<OpenedPipeline> {
  if (opts.room !== undefined) {
    const { joinAsHead } = await import("./mesh-pipeline.ts");
    return joinAsHead(opts.room, config, opts, { log: s.log, signal: s.signal }, null);
  }
  if (opts.peers > 1) {
    const { openMeshPipeline } = await import("./mesh-pipeline.ts");
    return openMeshPipeline(opts, model, config, { log: s.log, signal: s.signal });
  }
  const meter = new LoadMeter();
  const cacheDir = defaultCacheDir();
  const shard = await createNodeShardClient(
    {
      model,
      layerStart: 0,
      layerEnd: config.numLayers,
      embeds: true,
      tail: true,
      backend: opts.backend,
      kvCells: s.kvCells,
      maxSeqs: s.maxSeqs,
    },
    {
      signal: s.signal,
      // Remote models read through the weight cache; local files are read in place.
      ...(cacheDir === null ? {} : { cacheDir }),
      onProgress: (p) => {
        const line = meter.update(`pipemesh: loading layers 0-${config.numLayers}`, p);
        if (line !== null) s.log(line);
      },
    },
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
    destroy: async () => {
      await shard.destroy();
    },
  };
}
