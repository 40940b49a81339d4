// Per-stage [waitMs, computeMs] pairs (stageTimesMs) for the pipeline view: every stage appends its pair in
// order, in one process and over the wire (run, result and skip messages), a skipped speculative run gets
// 0 compute where it was skipped, and the decoder rejects malformed lists. Virtual time (SimClock).
import { describe, expect, it } from "vitest";
import { decodePeer } from "../../src/protocol/messages.ts";
import { LocalPipeline } from "../../src/pipeline/local-pipeline.ts";
import { createMemoryMesh } from "../../src/pipeline/memory-mesh.ts";
import type {
  PipelinePort,
  RunOutcome,
  StageBatch,
  StageResult,
  StageRunner,
} from "../../src/ports.ts";
import { SimClock } from "../support/sim-clock.ts";

/** Takes `ms` of virtual time per run; passes hidden through, the tail returns token 7. */
function slowRunner(clock: SimClock, ms: number, tail: boolean): StageRunner {
  return {
    async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
      await clock.sleep(ms, signal);
      const rows = batch.positions.length;
      if (tail) {
        return {
          outputs: [
            { row: 0, argmax: 7, prob: 1, topIds: Int32Array.of(7), topProbs: Float32Array.of(1) },
          ],
        };
      }
      return { hidden: new Float32Array(rows * 4).fill(1) };
    },
    kv: () => Promise.resolve(),
  };
}

function launch(p: PipelinePort, runId: number, kind: "canonical" | "speculative"): void {
  p.launch({
    runId,
    kind,
    tokens: Int32Array.of(1),
    positions: Int32Array.of(runId),
    seqIds: [[0]],
    outputRows: Int32Array.of(0),
  });
}

async function outcomes(clock: SimClock, p: PipelinePort, n: number): Promise<RunOutcome[]> {
  const out: RunOutcome[] = [];
  for (let i = 0; i < n; i++) out.push(await clock.run(p.next()));
  return out;
}

describe("stageTimesMs", () => {
  it("LocalPipeline: one [wait, compute] pair per stage; queueing shows up as wait", async () => {
    const clock = new SimClock();
    const pipe = new LocalPipeline({
      runners: [
        slowRunner(clock, 5, false),
        slowRunner(clock, 10, false),
        slowRunner(clock, 20, true),
      ],
      clock,
    });
    launch(pipe, 1, "canonical");
    launch(pipe, 2, "canonical");
    const [a, b] = await outcomes(clock, pipe, 2);
    expect(a?.stageTimesMs).toEqual([0, 5, 0, 10, 0, 20]);
    // Run 2 waits 5 ms behind run 1 at stage 0, then 5 at stage 1 and 10 at the tail.
    expect(b?.stageTimesMs).toEqual([5, 5, 5, 10, 10, 20]);
    pipe.destroy();
  });

  it("over the wire: run and result carry the pairs; a run cancelled before it starts has 0 compute", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: slowRunner(clock, 1, false),
      stageRunners: [slowRunner(clock, 10, false), slowRunner(clock, 10, true)],
      clock,
    });
    launch(mesh.head, 1, "canonical");
    launch(mesh.head, 2, "speculative");
    await clock.advance(5); // run 2 has reached stage 1 and waits behind run 1 there
    mesh.head.cancel([2]);
    const [done, skipped] = await outcomes(clock, mesh.head, 2);
    expect(done?.status).toBe("done");
    expect(done?.stageTimesMs?.length).toBe(6);
    expect(done?.stageTimesMs?.filter((_, i) => i % 2 === 1)).toEqual([1, 10, 10]);
    expect(skipped?.status).toBe("skipped");
    const t = skipped?.stageTimesMs ?? [];
    expect(t.length).toBe(6);
    expect(t[1]).toBe(1); // the head computed it before the cancel
    expect([t[3], t[5]]).toEqual([0, 0]); // skipped at stage 1 and at the tail
    mesh.destroy();
  });

  it("the decoder keeps valid pairs and rejects odd or negative lists", () => {
    const base = { type: "skip", v: 2, runId: 3, stageComputeMs: 2 };
    const ok = decodePeer({ ...base, stageTimesMs: [0, 1.5, 2, 0] });
    expect(ok.ok && ok.msg.type === "skip" ? ok.msg.stageTimesMs : null).toEqual([0, 1.5, 2, 0]);
    expect(decodePeer(base).ok).toBe(true);
    expect(decodePeer({ ...base, stageTimesMs: [1, 2, 3] }).ok).toBe(false);
    expect(decodePeer({ ...base, stageTimesMs: [1, -2] }).ok).toBe(false);
    expect(decodePeer({ ...base, stageTimesMs: "1,2" }).ok).toBe(false);
  });
});
