// bench:spec plumbing shared by the measured run (spec.ts) and the tuner (spec-tune.ts): the prompts, a
// scenario's pipeline (peer processes over WebRTC) with its drafters, one scheduler per mode and knob
// setting on that pipeline, one timed generation, and the single-peer plain reference tokens.

import type { ModelConfig, TextTokenizer } from "@pipemesh/engine";
import { PipeInferScheduler, type DecodeMode, type GenerationResult } from "@pipemesh/mesh";
import {
  kvSizing,
  MIN_SEQ_IDS,
  openDrafter,
  SPECULATIVE_CELLS,
  type OpenedDrafter,
  type OpenedPipeline,
} from "@pipemesh/head";
import { nodePlatform } from "@pipemesh/head/node";
import { parseGenerateArgs } from "../src/args.ts";
import { openPipeline } from "../src/head/cli-head.ts";
import { modelledDrafter } from "../src/head/modelled-drafter.ts";
import type { DefaultPair } from "../src/head/models.ts";
import { knobArgs, speculationFor, type Knobs } from "./spec-settings.ts";
import type { Scenario } from "./spec-scenarios.ts";
import { tracePipeline } from "./trace-pipeline.ts";

/**
 * Measured prompts: prose openings of 7-12 tokens (BOS included) in the styles of the model's training
 * text (the Bible, State of the Union addresses, Moby-Dick); with 128 generated tokens each fits the
 * model's 256-token context. Greedy continuations of this tiny model soon repeat themselves, which the
 * draft predicts well; that is the model, not the bench.
 */
export const PROMPTS: readonly string[] = [
  "Once upon a time",
  "The president said that the nation",
  "And God said unto Moses,",
  "It was the best of times,",
  "Call me Ishmael.",
  "Fellow citizens, the state of",
  "The whale rose from the sea",
  "In the beginning God created",
  "Our economy is stronger today than",
  "And the LORD spake unto",
];

/** Tuning prompts, disjoint from PROMPTS so the knobs are not fitted to the prompts they are measured on. */
export const TUNE_PROMPTS: readonly string[] = [
  "Tonight I ask the Congress to",
  "The ship sailed out of the harbour",
  "The captain looked at the sea and said",
  "We must not forget",
];

/** Run once per scheduler before measuring (JIT, drafter and calibration warm-up); not reported. */
export const WARMUP_PROMPT = "Thou shalt not";
export const WARMUP_TOKENS = 16;

export function encodePrompts(tokenizer: TextTokenizer, prompts: readonly string[]): number[][] {
  return prompts.map((p) => Array.from(tokenizer.encode(p)));
}

export interface BenchEnv {
  pair: DefaultPair;
  config: ModelConfig;
  backend: string;
  log: (m: string) => void;
  signal: AbortSignal;
}

export interface OpenedScenario {
  sc: Scenario;
  pipe: OpenedPipeline;
  drafters: OpenedDrafter[];
  maxPositions: number;
  kvCells: number;
  /** The scenario's `pipemesh generate` flags (peers, backend, shaping, modelled compute). */
  baseArgs: string[];
  destroy(): Promise<void>;
}

export function scenarioArgs(sc: Scenario, backend: string): string[] {
  const args = ["--prompt-ids", "1", "--peers", String(sc.peers), "--backend", backend];
  if (sc.latencyMs > 0) args.push("--link-latency-ms", String(sc.latencyMs));
  if (sc.bandwidthMbps > 0) args.push("--link-bandwidth-mbps", String(sc.bandwidthMbps));
  if (sc.modelled !== null) {
    args.push("--modelled-stage-ms", String(sc.modelled.stageMs));
    args.push("--modelled-row-ms", String(sc.modelled.rowMs));
    args.push("--modelled-draft-ms", String(sc.modelled.draftMs));
  }
  return args;
}

/** Starts the scenario's peers and opens its drafters (one per kind, on the scenario's draft model). */
export async function openScenario(
  sc: Scenario,
  drafterKinds: readonly ("ort" | "engine")[],
  env: BenchEnv,
): Promise<OpenedScenario> {
  const baseArgs = scenarioArgs(sc, env.backend);
  const opts = parseGenerateArgs(baseArgs);
  const draftDir = sc.weakDraft ? (env.pair.draftWeak ?? env.pair.draft) : env.pair.draft;
  const drafters: OpenedDrafter[] = [];
  const closeDrafters = async (): Promise<void> => {
    for (const d of drafters) await d.drafter.destroy();
  };
  try {
    for (const kind of drafterKinds) {
      drafters.push(
        await openDrafter({
          platform: nodePlatform,
          target: env.pair.target,
          draft: draftDir,
          kind,
          signal: env.signal,
        }),
      );
    }
    const maxPositions = Math.min(env.config.maxPositions, ...drafters.map((d) => d.maxPositions));
    const kvCells = kvSizing({ maxPositions }).kvCells;
    const pipe = await openPipeline(opts, env.pair.target, env.config, {
      kvCells,
      maxSeqs: MIN_SEQ_IDS,
      log: env.log,
      signal: env.signal,
    });
    return {
      sc,
      pipe,
      drafters,
      maxPositions,
      kvCells,
      baseArgs,
      async destroy() {
        await pipe.destroy();
        await closeDrafters();
      },
    };
  } catch (e) {
    await closeDrafters();
    throw e;
  }
}

/**
 * A scheduler for `mode` with `knobs` on the scenario's pipeline. `extraArgs` (bench --knobs) go after the
 * knobs' own flags, so they win. Several schedulers may share the pipeline as long as only one generates
 * at a time and each waits for its cleanup (generateOnce does).
 */
export function schedulerFor(
  os: OpenedScenario,
  mode: DecodeMode,
  drafter: OpenedDrafter | null,
  knobs: Knobs,
  extraArgs: readonly string[] = [],
  log: (m: string) => void = () => {},
): PipeInferScheduler {
  const opts = parseGenerateArgs([...os.baseArgs, ...knobArgs(knobs), ...extraArgs]);
  return new PipeInferScheduler(
    {
      pipeline:
        process.env["PIPEMESH_TRACE"] === "1"
          ? tracePipeline(os.pipe.pipeline, log)
          : os.pipe.pipeline,
      drafter: drafter === null ? null : modelledDrafter(drafter.drafter, opts.modelledDraftMs),
    },
    {
      mode,
      speculation: speculationFor(opts, knobs.firstDraftMax),
      maxContextTokens: Math.min(os.maxPositions, os.kvCells - SPECULATIVE_CELLS),
      maxSeqIds: MIN_SEQ_IDS,
    },
  );
}

/**
 * One greedy generation from an empty KV: clears the stages' KV and the drafter's cache first (reset),
 * and returns only after the scheduler's cleanup, so the next generation (any scheduler) starts clean.
 */
export async function generateOnce(
  scheduler: PipeInferScheduler,
  prompt: readonly number[],
  maxTokens: number,
): Promise<GenerationResult> {
  await scheduler.reset();
  const gen = scheduler.generate({ newTokens: prompt, maxTokens, sampling: { temperature: 0 } });
  const result = await gen.result;
  await scheduler.whenIdle();
  return result;
}

export async function closeScheduler(scheduler: PipeInferScheduler): Promise<void> {
  await scheduler.reset();
  await scheduler.whenIdle();
  await scheduler.destroy();
}

/**
 * The reference: each prompt's greedy tokens from plain decoding on one local peer holding every layer
 * (`--peers 1`, the CPU backend), no hops, no drafter. Every bench row is compared with these.
 */
export async function referenceTokens(
  prompts: readonly (readonly number[])[],
  maxTokens: number,
  env: BenchEnv,
): Promise<number[][]> {
  const opts = parseGenerateArgs(["--prompt-ids", "1", "--peers", "1", "--backend", "cpu"]);
  const kvCells = kvSizing({ maxPositions: env.config.maxPositions }).kvCells;
  const pipe = await openPipeline(opts, env.pair.target, env.config, {
    kvCells,
    maxSeqs: MIN_SEQ_IDS,
    log: env.log,
    signal: env.signal,
  });
  try {
    const scheduler = new PipeInferScheduler(
      { pipeline: pipe.pipeline, drafter: null },
      {
        mode: "plain",
        maxContextTokens: Math.min(env.config.maxPositions, kvCells - SPECULATIVE_CELLS),
        maxSeqIds: MIN_SEQ_IDS,
      },
    );
    const out: number[][] = [];
    for (const p of prompts) out.push((await generateOnce(scheduler, p, maxTokens)).tokens);
    await closeScheduler(scheduler);
    return out;
  } finally {
    await pipe.destroy();
  }
}
