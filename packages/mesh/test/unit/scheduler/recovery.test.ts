// Recovery mid-generation: when the pipeline fails and the recover port hands over a replacement (fresh
// stages, no KV), the scheduler replays the sequence into it and the output equals an uninterrupted run:
// greedy against the KV-free reference, sampled against the same seed without the fault; in every mode, at
// every moment of the generation (prefill included), through several failures in a row. Without a
// replacement, past maxRecoveries, or for a fault a new pipeline cannot cure, the failure ends the
// generation with the tokens so far.
import { describe, expect, it } from "vitest";
import { MeshError } from "../../../src/errors.ts";
import type { DecodeMode, SchedulerConfig } from "../../../src/scheduler/config.ts";
import type { TokenEvent } from "../../../src/scheduler/generation-loop.ts";
import type { SamplingOptions } from "../../../src/scheduler/sampling.ts";
import { PipeInferScheduler, type GenerationResult } from "../../../src/scheduler/scheduler.ts";
import { referenceGreedy } from "../../support/sim-harness.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { SimPipeline } from "../../support/sim-pipeline.ts";
import { ToyDrafter } from "../../support/toy-drafters.ts";
import { createToyStages, ToyModel } from "../../support/toy-model.ts";

const PROMPT = [3, 3, 1, 7, 2, 9];
const SIM = { hopMs: 5, compute: { baseMs: 6, perExtraRowMs: 1 }, stepsPerStage: 3 };
const MODES: readonly DecodeMode[] = ["plain", "speculative", "pipeinfer"];

interface Rig {
  clock: SimClock;
  model: ToyModel;
  scheduler: PipeInferScheduler;
  /** Every pipeline the scheduler was given, the first one included. */
  pipelines: SimPipeline[];
  /** Errors the recover port was called with. */
  recovered: MeshError[];
}

function rig(o: {
  mode: DecodeMode;
  /** Whether the recover port finds a replacement (per call; default always). */
  replace?: (call: number) => boolean;
  withRecover?: boolean;
  config?: SchedulerConfig;
}): Rig {
  const clock = new SimClock();
  const model = new ToyModel();
  const pipelines: SimPipeline[] = [];
  const fresh = (): SimPipeline => {
    const p = new SimPipeline({
      clock,
      stages: createToyStages(model, { stages: 3, kvCells: 1024, maxSeqs: 64 }),
      ...SIM,
    });
    pipelines.push(p);
    return p;
  };
  const recovered: MeshError[] = [];
  const drafter =
    o.mode === "plain"
      ? null
      : new ToyDrafter({ kind: "aligned", model, clock, stepMs: 0.5, extraTokenMs: 0.01 });
  const scheduler = new PipeInferScheduler(
    {
      pipeline: fresh(),
      drafter,
      clock,
      ...(o.withRecover === false
        ? {}
        : {
            recover: (error: MeshError) => {
              recovered.push(error);
              // The replacement takes a while to be planned, loaded and connected.
              return new Promise<SimPipeline | null>((resolve) =>
                clock.after(40, () =>
                  resolve((o.replace?.(recovered.length) ?? true) ? fresh() : null),
                ),
              );
            },
          }),
    },
    { ...o.config, mode: o.mode },
  );
  return { clock, model, scheduler, pipelines, recovered };
}

/** Runs one generation; `faults` fail the then-current pipeline at the given virtual times. */
async function run(
  r: Rig,
  request: {
    maxTokens: number;
    sampling?: SamplingOptions;
    previous?: number[];
    tokens?: number[];
  },
  faults: { atMs: number; error: MeshError }[] = [],
): Promise<{ result?: GenerationResult; error?: MeshError; events: TokenEvent[] }> {
  for (const f of faults) r.clock.after(f.atMs, () => r.pipelines.at(-1)?.fail(f.error));
  const gen = r.scheduler.generate({
    previousTokens: request.previous,
    newTokens: request.tokens ?? PROMPT,
    maxTokens: request.maxTokens,
    sampling: request.sampling,
  });
  const events: TokenEvent[] = [];
  const collect = (async () => {
    for await (const e of gen) events.push(e);
  })().catch(() => undefined);
  try {
    const result = await r.clock.run(gen.result);
    await r.clock.run(collect);
    await r.clock.run(r.scheduler.whenIdle());
    return { result, events };
  } catch (e) {
    await r.clock.run(collect);
    return { error: e as MeshError, events };
  }
}

const lost = (): MeshError =>
  new MeshError("ERR_PEER_LOST", "stage 2 (peer p2) lost", { details: { peerId: "p2" } });

describe("recovery from a failed pipeline", () => {
  for (const mode of MODES) {
    it(`${mode}: a failure at any moment still gives the uninterrupted greedy tokens`, async () => {
      const expected = referenceGreedy(new ToyModel(), PROMPT, 40);
      // From inside the first prefill to late in the decode.
      for (const atMs of [1, 9, 35, 80, 150, 260, 420]) {
        const r = rig({ mode });
        const { result, events } = await run(r, { maxTokens: 40 }, [{ atMs, error: lost() }]);
        expect(result?.tokens, `failure at ${atMs} ms`).toEqual(expected);
        expect(events.flatMap((e) => e.tokens)).toEqual(expected);
        expect(r.recovered.map((e) => e.code)).toEqual(["ERR_PEER_LOST"]);
        const rec = result?.metrics.recoveries ?? [];
        expect(rec).toHaveLength(1);
        expect(rec[0]?.code).toBe("ERR_PEER_LOST");
        expect(rec[0]?.peerId).toBe("p2");
        expect(rec[0]?.replayedTokens).toBe(PROMPT.length + (rec[0]?.atToken ?? 0));
        expect(rec[0]?.replaceMs).toBeGreaterThanOrEqual(40);
        expect(rec[0]?.recoveredMs).toBeGreaterThanOrEqual(rec[0]?.replaceMs ?? Infinity);
        // The replacement got the whole sequence replayed: its stages hold every accepted position.
        expect(r.pipelines).toHaveLength(2);
      }
    });
  }

  it("several failures in a row, each on the replacement of the last", async () => {
    for (const mode of MODES) {
      const r = rig({ mode });
      const faults = [60, 200, 330].map((atMs) => ({ atMs, error: lost() }));
      const { result } = await run(r, { maxTokens: 50 }, faults);
      expect(result?.tokens).toEqual(referenceGreedy(new ToyModel(), PROMPT, 50));
      expect(result?.metrics.recoveries).toHaveLength(3);
      expect(r.pipelines).toHaveLength(4);
    }
  });

  it("sampling with a seed: the same tokens as the run without the fault, in every mode", async () => {
    // Shared-noise sampling makes the token at a position a function of (seed, position, context).
    for (const mode of MODES) {
      const sampling = { temperature: 0.9, seed: 1234 };
      const clean = await run(rig({ mode }), { maxTokens: 40, sampling });
      for (const atMs of [20, 140, 300]) {
        const faulted = await run(rig({ mode }), { maxTokens: 40, sampling }, [
          { atMs, error: lost() },
        ]);
        expect(faulted.result?.metrics.recoveries, `${mode} at ${atMs}`).toHaveLength(1);
        expect(faulted.result?.tokens, `${mode} at ${atMs}`).toEqual(clean.result?.tokens);
      }
    }
  });

  it("every recoverable code goes through the port; internal errors do not", async () => {
    for (const code of ["ERR_NONFINITE", "ERR_RESULT_INVALID", "ERR_PLAN_STALE"] as const) {
      const r = rig({ mode: "pipeinfer" });
      const { result } = await run(r, { maxTokens: 30 }, [
        { atMs: 120, error: new MeshError(code, "bad stage") },
      ]);
      expect(result?.tokens).toEqual(referenceGreedy(new ToyModel(), PROMPT, 30));
      expect(r.recovered.map((e) => e.code)).toEqual([code]);
    }
    const r = rig({ mode: "pipeinfer" });
    const { error } = await run(r, { maxTokens: 30 }, [
      { atMs: 120, error: new MeshError("ERR_INTERNAL", "a bug at the head") },
    ]);
    expect(error?.code).toBe("ERR_INTERNAL");
    expect(r.recovered).toHaveLength(0);
  });

  it("no replacement: the original error with the tokens so far", async () => {
    const r = rig({ mode: "pipeinfer", replace: () => false });
    const { error, events } = await run(r, { maxTokens: 60 }, [{ atMs: 200, error: lost() }]);
    expect(error?.code).toBe("ERR_PEER_LOST");
    const tokens = error?.details?.tokens as number[];
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.length).toBeLessThan(60);
    expect(tokens).toEqual(events.flatMap((e) => e.tokens));
    expect(tokens).toEqual(referenceGreedy(new ToyModel(), PROMPT, tokens.length));
  });

  it("without a recover port, and past maxRecoveries, a failure ends the generation", async () => {
    const bare = rig({ mode: "plain", withRecover: false });
    const a = await run(bare, { maxTokens: 60 }, [{ atMs: 150, error: lost() }]);
    expect(a.error?.code).toBe("ERR_PEER_LOST");

    const capped = rig({ mode: "pipeinfer", config: { maxRecoveries: 1 } });
    const faults = [80, 260].map((atMs) => ({ atMs, error: lost() }));
    const b = await run(capped, { maxTokens: 80 }, faults);
    expect(b.error?.code).toBe("ERR_PEER_LOST");
    expect(capped.recovered).toHaveLength(1);
    const tokens = b.error?.details?.tokens as number[];
    expect(tokens).toEqual(referenceGreedy(new ToyModel(), PROMPT, tokens.length));
  });

  it("the next turn runs on the replacement and reuses the KV the replay rebuilt", async () => {
    const r = rig({ mode: "pipeinfer" });
    const first = await run(r, { maxTokens: 20 }, [{ atMs: 100, error: lost() }]);
    const previous = [...PROMPT, ...(first.result?.tokens ?? [])];
    const launched = (p: SimPipeline | undefined): number =>
      p === undefined ? 0 : p.stats.launched.prefill + p.stats.launched.canonical;
    const launchedBefore = launched(r.pipelines[1]);
    const next = await run(r, { maxTokens: 15, previous, tokens: [4, 4] });
    expect(next.result?.tokens).toEqual(referenceGreedy(new ToyModel(), [...previous, 4, 4], 15));
    expect(next.result?.metrics.reusedTokens).toBeGreaterThanOrEqual(previous.length - 1);
    expect(r.pipelines).toHaveLength(2);
    expect(launched(r.pipelines[1])).toBeGreaterThan(launchedBefore);
  });
});
