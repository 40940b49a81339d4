// Test/bench harness: wires a ToyModel split over N stages, a SimPipeline, an optional ToyDrafter and a
// PipeInferScheduler onto one SimClock, and runs generations in virtual time. Test support only.

import { expect } from "vitest";
import type { DecodeMode, SchedulerConfig } from "../../src/scheduler/config.ts";
import type { TokenEvent } from "../../src/scheduler/generation-loop.ts";
import {
  PipeInferScheduler,
  type GenerateRequest,
  type GenerationResult,
} from "../../src/scheduler/scheduler.ts";
import { SimClock } from "./sim-clock.ts";
import { SimPipeline, type SimPipelineOptions } from "./sim-pipeline.ts";
import { draftProfiles } from "./toy-draft-profiles.ts";
import { ToyDrafter, type ToyDraftKind } from "./toy-drafters.ts";
import { createToyStages, ToyModel, ToyReference, type ToyModelSpec } from "./toy-model.ts";

export interface HarnessOptions {
  peers?: number;
  model?: Partial<ToyModelSpec>;
  /** Omit for no drafter. */
  draft?: ToyDraftKind;
  agreement?: number;
  /** For draft "profile": which measured draft to mimic (default "tiny"). */
  profile?: "tiny" | "tiny-weak";
  draftStepMs?: number;
  draftExtraTokenMs?: number;
  draftExtraContextMs?: number;
  mode?: DecodeMode;
  config?: SchedulerConfig;
  sim?: Omit<SimPipelineOptions, "clock" | "stages">;
  kvCells?: number;
  maxSeqs?: number;
  decode?: (tokens: readonly number[]) => string;
}

export interface Harness {
  clock: SimClock;
  model: ToyModel;
  sim: SimPipeline;
  drafter: ToyDrafter | null;
  scheduler: PipeInferScheduler;
  /** Runs one generation to completion (and its cleanup) in virtual time. */
  generate(request: GenerateRequest): Promise<{ result: GenerationResult; events: TokenEvent[] }>;
}

export function createHarness(o: HarnessOptions = {}): Harness {
  const clock = new SimClock();
  const model = new ToyModel(o.model);
  const stages = createToyStages(model, {
    stages: o.peers ?? 1,
    kvCells: o.kvCells ?? 1024,
    maxSeqs: o.maxSeqs ?? 64,
  });
  const sim = new SimPipeline({ clock, stages, ...o.sim });
  const drafter =
    o.draft === undefined
      ? null
      : new ToyDrafter({
          kind: o.draft,
          model,
          ...(o.agreement === undefined ? {} : { agreement: o.agreement }),
          ...(o.draft === "profile" ? { profile: draftProfiles()[o.profile ?? "tiny"] } : {}),
          clock,
          stepMs: o.draftStepMs ?? 0.5,
          extraTokenMs: o.draftExtraTokenMs ?? 0.01,
          extraContextMs: o.draftExtraContextMs ?? 0,
        });
  const scheduler = new PipeInferScheduler(
    { pipeline: sim, drafter, clock, ...(o.decode === undefined ? {} : { decode: o.decode }) },
    { ...o.config, mode: o.mode ?? o.config?.mode },
  );
  return {
    clock,
    model,
    sim,
    drafter,
    scheduler,
    async generate(request) {
      const gen = scheduler.generate(request);
      const events: TokenEvent[] = [];
      const collect = (async () => {
        for await (const e of gen) events.push(e);
      })();
      const result = await clock.run(gen.result);
      await clock.run(collect);
      await clock.run(scheduler.whenIdle());
      return { result, events };
    },
  };
}

/** Greedy tokens straight from the KV-free reference: the oracle every mode must reproduce. */
export function referenceGreedy(
  model: ToyModel,
  context: readonly number[],
  count: number,
): number[] {
  const ctx = [...context];
  const out: number[] = [];
  const ref = new ToyReference(model);
  for (let i = 0; i < count; i++) {
    const logits = ref.logitsAfter(ctx);
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    out.push(best);
    ctx.push(best);
  }
  return out;
}

/** Every stage holds exactly the canonical context: one seq-0 cell per position, nothing else. */
export function expectCanonicalOnly(h: Harness, length: number): void {
  for (const stage of h.sim.stages) {
    const cells = stage.cache.entries();
    expect(cells.every((c) => c.seqs.length === 1 && c.seqs[0] === 0)).toBe(true);
    expect(cells.map((c) => c.pos).sort((a, b) => a - b)).toEqual(
      Array.from({ length }, (_, i) => i),
    );
  }
}
