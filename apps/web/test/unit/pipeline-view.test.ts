// The pipeline view's data: RecordingPipeline records launches, cancels and outcomes without changing what
// it forwards; runBoxes places each stage's compute from the [wait, compute] pairs so the hops fill the gap
// to the outcome's arrival; busyFraction measures a lane's busy time; chat errors name the peer.

import type { PipelinePort, RunOutcome, RunSpec, StageKvOp } from "@pipemesh/mesh";
import { MeshError } from "@pipemesh/mesh";
import { describe, expect, it } from "vitest";
import { describeChatError } from "../../src/chat/describe-error.ts";
import { codeOf } from "../../src/errors.ts";
import { busyFraction, runBoxes } from "../../src/pipeline-view/layout.ts";
import { RecordingPipeline, RunLog, type RunRecord } from "../../src/pipeline-view/run-log.ts";

function run(runId: number, kind: RunSpec["kind"]): RunSpec {
  return {
    runId,
    kind,
    tokens: Int32Array.of(1, 2),
    positions: Int32Array.of(0, 1),
    seqIds: [[0], [0]],
    outputRows: Int32Array.of(1),
  };
}

describe("RecordingPipeline + RunLog", () => {
  it("records and forwards launches, KV ops, cancels and outcomes", async () => {
    let now = 0;
    const calls: string[] = [];
    const outcomes: RunOutcome[] = [
      { runId: 1, status: "done", outputs: [], stageComputeMs: 3, stageTimesMs: [0, 1, 0, 2] },
      { runId: 2, status: "skipped", stageComputeMs: 0 },
    ];
    const inner: PipelinePort = {
      launch: (r) => calls.push(`launch ${r.runId}`),
      kv: (op: StageKvOp) => calls.push(`kv ${op.op}`),
      cancel: (ids) => calls.push(`cancel ${ids.join()}`),
      hasOutcome: () => true,
      next: () => Promise.resolve(outcomes.shift()!),
    };
    const log = new RunLog({ clock: { now: () => now } });
    let changes = 0;
    log.onChange(() => changes++);
    log.reset(["head", "s1"]);
    const p = new RecordingPipeline(inner, log);
    p.launch(run(1, "prefill"));
    now = 5;
    p.launch(run(2, "speculative"));
    p.kv({ op: "clear" });
    now = 6;
    p.cancel([2]);
    now = 10;
    expect((await p.next()).runId).toBe(1);
    expect((await p.next()).status).toBe("skipped");
    expect(calls).toEqual(["launch 1", "launch 2", "kv clear", "cancel 2"]);
    const [a, b] = log.runs;
    expect(a).toMatchObject({ runId: 1, kind: "prefill", rows: 2, launchMs: 0, cancelledMs: null });
    expect(a?.outcome).toEqual({ atMs: 10, status: "done", stageTimesMs: [0, 1, 0, 2] });
    expect(b).toMatchObject({ runId: 2, cancelledMs: 6, outcome: { status: "skipped" } });
    expect(log.stages).toEqual(["head", "s1"]);
    expect(changes).toBeGreaterThanOrEqual(6);
  });

  it("keeps at most maxRuns runs", () => {
    const log = new RunLog({ maxRuns: 3 });
    for (let i = 1; i <= 5; i++) log.launched(run(i, "canonical"));
    expect(log.runs.map((r) => r.runId)).toEqual([3, 4, 5]);
  });
});

describe("runBoxes / busyFraction", () => {
  const rec = (o: Partial<RunRecord>): RunRecord => ({
    runId: 7,
    kind: "canonical",
    rows: 1,
    launchMs: 100,
    cancelledMs: null,
    outcome: null,
    ...o,
  });

  it("spreads the unknown network time over the hops so the last one lands at the outcome", () => {
    // head: wait 0, compute 2; stage 1: wait 4, compute 10; tail: wait 0, compute 6 => 22 ms of stage time
    // in a 31 ms round trip => 3 hops of 3 ms.
    const boxes = runBoxes(
      rec({ outcome: { atMs: 131, status: "done", stageTimesMs: [0, 2, 4, 10, 0, 6] } }),
    );
    expect(boxes).toEqual([
      { runId: 7, stage: 0, startMs: 100, endMs: 102, kind: "canonical" },
      { runId: 7, stage: 1, startMs: 109, endMs: 119, kind: "canonical" },
      { runId: 7, stage: 2, startMs: 122, endMs: 128, kind: "canonical" },
    ]);
  });

  it("cancelled runs keep only the compute they did, marked cancelled", () => {
    const boxes = runBoxes(
      rec({
        kind: "speculative",
        cancelledMs: 104,
        outcome: { atMs: 120, status: "skipped", stageTimesMs: [0, 3, 1, 0] },
      }),
    );
    expect(boxes).toEqual([{ runId: 7, stage: 0, startMs: 100, endMs: 103, kind: "cancelled" }]);
  });

  it("no outcome or no stage times: nothing to draw", () => {
    expect(runBoxes(rec({}))).toEqual([]);
    expect(
      runBoxes(rec({ outcome: { atMs: 1, status: "done", stageTimesMs: undefined } })),
    ).toEqual([]);
  });

  it("busyFraction counts overlapping boxes once and clips to the window", () => {
    const b = (stage: number, startMs: number, endMs: number) =>
      ({ runId: 1, stage, startMs, endMs, kind: "canonical" }) as const;
    const boxes = [b(0, 0, 10), b(0, 5, 15), b(0, 30, 50), b(1, 0, 100)];
    expect(busyFraction(boxes, 0, 0, 40)).toBeCloseTo(25 / 40);
    expect(busyFraction(boxes, 1, 20, 40)).toBe(1);
    expect(busyFraction(boxes, 2, 0, 40)).toBe(0);
  });
});

describe("chat errors", () => {
  it("names the peer that left and counts the tokens kept", () => {
    const inner = new MeshError("ERR_PEER_LOST", "stage 2 lost", { details: { peerId: "p2" } });
    const e = new MeshError("ERR_PEER_LOST", "generation failed after 5 tokens", {
      cause: inner,
      details: { tokens: [1, 2, 3, 4, 5] },
    });
    const d = describeChatError(e, (id) => (id === "p2" ? "tab-beef" : undefined));
    expect(d.code).toBe("ERR_PEER_LOST");
    expect(d.message).toContain("tab-beef left in the middle of the reply");
    expect(d.message).toContain("5 tokens");
  });

  it("codeOf reads codes from errors and messages", () => {
    expect(codeOf(new MeshError("ERR_ROOM_FULL", "full"))).toBe("ERR_ROOM_FULL");
    expect(codeOf(new Error("ERR_FETCH: nope"))).toBe("ERR_FETCH");
    expect(codeOf("plain")).toBe("ERR_APP_INTERNAL");
  });
});
