// SimPipeline is the scheduler's test pipeline: check its timing model, FIFO, cancels, skip markers and
// failure behaviour directly, so scheduler tests can trust it.
import { describe, expect, it } from "vitest";
import { MeshError } from "../../../src/errors.ts";
import type { RunOutcome, RunSpec } from "../../../src/ports.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { SimPipeline, type SimPipelineOptions } from "../../support/sim-pipeline.ts";
import { createToyStages, ToyModel } from "../../support/toy-model.ts";

function setup(o: Omit<SimPipelineOptions, "clock" | "stages"> = {}, stages = 3) {
  const clock = new SimClock();
  const model = new ToyModel({ layers: 6 });
  const sim = new SimPipeline({ clock, stages: createToyStages(model, { stages }), ...o });
  return { clock, sim };
}

function run(
  runId: number,
  kind: RunSpec["kind"],
  tokens: number[],
  start: number,
  seq = 0,
): RunSpec {
  return {
    runId,
    kind,
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds: tokens.map(() => [seq]),
    outputRows: Int32Array.from([tokens.length - 1]),
  };
}

async function collect(
  clock: SimClock,
  sim: SimPipeline,
  count: number,
): Promise<(RunOutcome & { atMs: number })[]> {
  const out: (RunOutcome & { atMs: number })[] = [];
  for (let i = 0; i < count; i++) {
    const o = await clock.run(sim.next());
    out.push({ ...o, atMs: clock.now() });
  }
  return out;
}

describe("SimPipeline", () => {
  it("models latency and per-stage compute: one run takes stages*(base) + hops", async () => {
    const { clock, sim } = setup({
      hopMs: 5,
      headHopMs: 0,
      compute: { baseMs: 10, perExtraRowMs: 2 },
    });
    sim.launch(run(1, "prefill", [1, 2, 3], 0));
    const [o] = await collect(clock, sim, 1);
    // 3 stages * (10 + 2*2) compute + 3 hops (s0->s1, s1->s2, s2->head)
    expect(o!.atMs).toBeCloseTo(3 * 14 + 3 * 5, 6);
    expect(o!.status).toBe("done");
    expect(o!.stageComputeMs).toBeCloseTo(42, 6);
  });

  it("keeps FIFO per stage: runs and KV ops apply in issue order, outcomes come in launch order", async () => {
    const { clock, sim } = setup({ hopMs: 1, hopJitterMs: 3, seed: 9 });
    sim.launch(run(1, "prefill", [1, 2, 3, 4], 0));
    sim.kv({ op: "seq_rm", seq: -1, p0: 2, p1: -1 });
    sim.launch(run(2, "canonical", [7], 2));
    const outs = await collect(clock, sim, 2);
    expect(outs.map((o) => o.runId)).toEqual([1, 2]);
    for (const st of sim.stages) expect(st.cache.entries().map((e) => e.pos)).toEqual([0, 1, 2]);
  });

  it("a cancel that arrives before a stage starts the run turns it into a skip marker", async () => {
    const { clock, sim } = setup({
      hopMs: 1,
      compute: { baseMs: 10, perExtraRowMs: 0 },
      cancelDelayMs: 0,
    });
    sim.launch(run(1, "prefill", [1, 2], 0));
    sim.launch(run(2, "speculative", [3, 4], 2, 1));
    sim.cancel([2]);
    const [, o2] = await collect(clock, sim, 2);
    expect(o2!.status).toBe("skipped");
    expect(o2!.stageComputeMs).toBe(0);
    for (const st of sim.stages)
      expect(st.cache.entries().every((e) => e.seqs.includes(0))).toBe(true);
  });

  it("a cancel mid-run stops it between layers, frees its cells, and skips the later stages", async () => {
    const { clock, sim } = setup({
      hopMs: 1,
      compute: { baseMs: 30, perExtraRowMs: 0 },
      stepsPerStage: 3,
    });
    sim.launch(run(1, "speculative", [3, 4], 0, 1));
    const done = sim.next();
    await clock.advance(15); // mid-way through stage 0's 30 ms
    sim.cancel([1]);
    const o = await clock.run(done);
    expect(o.status).toBe("skipped");
    expect(o.stageComputeMs).toBeGreaterThan(0);
    expect(o.stageComputeMs).toBeLessThan(30);
    expect(sim.stats.abortedMidRun).toBe(1);
    for (const st of sim.stages) expect(st.cache.used()).toBe(0);
  });

  it("refuses to cancel canonical or prefill runs", () => {
    const { sim } = setup();
    sim.launch(run(1, "canonical", [1], 0));
    expect(() => sim.cancel([1])).toThrow(/only speculative/);
  });

  it("is deterministic for a seed and varies across seeds", async () => {
    const times = async (seed: number): Promise<number[]> => {
      const { clock, sim } = setup({ hopMs: 2, hopJitterMs: 5, computeJitter: 0.5, seed });
      for (let i = 0; i < 5; i++) sim.launch(run(i + 1, "prefill", [i + 1], i));
      return (await collect(clock, sim, 5)).map((o) => o.atMs);
    };
    expect(await times(1)).toEqual(await times(1));
    expect(await times(1)).not.toEqual(await times(2));
  });

  it("fail() rejects the pending and every later next()", async () => {
    const { clock, sim } = setup({ hopMs: 5 });
    sim.launch(run(1, "prefill", [1], 0));
    const p = sim.next();
    clock.after(2, () => sim.fail(new MeshError("ERR_PEER_LOST", "peer 2 left")));
    await expect(clock.run(p)).rejects.toMatchObject({ code: "ERR_PEER_LOST" });
    await expect(sim.next()).rejects.toMatchObject({ code: "ERR_PEER_LOST" });
    expect(sim.hasOutcome()).toBe(true);
  });

  it("a stage failure (KV full) becomes ERR_STAGE_FAILED", async () => {
    const clock = new SimClock();
    const sim = new SimPipeline({ clock, stages: createToyStages(new ToyModel(), { kvCells: 4 }) });
    sim.launch(run(1, "prefill", [1, 2, 3, 4, 5], 0));
    await expect(clock.run(sim.next())).rejects.toMatchObject({ code: "ERR_STAGE_FAILED" });
  });

  it("SimClock reports a deadlock instead of hanging", async () => {
    const clock = new SimClock();
    await expect(clock.run(new Promise(() => {}))).rejects.toThrow(/deadlock/);
  });
});
