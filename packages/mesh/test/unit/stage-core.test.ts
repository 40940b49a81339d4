// One stage's work loop and its remembered cancels: a cancel that overtakes its run skips it; a cancel that
// arrives after its run passed is forgotten once a later run arrives, and all are forgotten when run ids
// restart (a new head), so a live run is never skipped by a stale cancel.
import { describe, expect, it } from "vitest";
import { StageCore, type RunHeader, type StageSink } from "../../src/pipeline/stage-core.ts";
import type { StageRunner } from "../../src/ports.ts";

function recorder(): { sink: StageSink; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    sink: {
      run: (h) => void seen.push(`done ${h.runId}`),
      kv: () => undefined,
      skip: (id) => void seen.push(`skip ${id}`),
      failed: (id, e) => void seen.push(`failed ${id} ${String(e)}`),
    },
  };
}

const runner: StageRunner = {
  run: () => Promise.resolve({ outputs: [] }),
  kv: () => Promise.resolve(),
};

const header = (runId: number): RunHeader => ({
  runId,
  kind: "speculative",
  positions: Int32Array.of(0),
  seqIds: [[1]],
  outputRows: Int32Array.of(0),
  stageComputeMs: 0,
});

describe("StageCore cancels", () => {
  it("skips a run whose cancel overtook it, and never one whose cancel came too late", async () => {
    const { sink, seen } = recorder();
    const core = new StageCore({ runner, sink });
    core.push({ type: "run", header: header(7) });
    await core.idle();
    core.cancel([7]); // too late: run 7 has passed
    core.cancel([9]); // early: run 9 has not arrived
    core.push({ type: "run", header: header(9) });
    core.push({ type: "run", header: header(10) });
    await core.idle();
    // A new head whose ids start again at 1 reaches 7 and 10: both computed.
    for (const id of [1, 2, 7, 10]) core.push({ type: "run", header: header(id) });
    await core.idle();
    expect(seen).toEqual(["done 7", "skip 9", "done 10", "done 1", "done 2", "done 7", "done 10"]);
  });

  it("keeps a cancel for a run still ahead while later-issued runs pass", async () => {
    const { sink, seen } = recorder();
    const core = new StageCore({ runner, sink });
    core.push({ type: "run", header: header(3) });
    await core.idle();
    core.cancel([3, 5]); // 3 too late, 5 early
    core.push({ type: "run", header: header(4) });
    core.push({ type: "run", header: header(5) });
    await core.idle();
    expect(seen).toEqual(["done 3", "done 4", "skip 5"]);
  });
});
