// Liveness beyond heartbeats: a stage whose links and heartbeats stay up while a run never returns (a
// stopped process, a frozen tab) fails the generation with ERR_PEER_LOST naming it, within max(5 s, 3x the
// run's expected time from measured stage times); a result that arrives after that is dropped. Virtual
// clock with a time cap, so a hang fails the test instead of stalling it.
import { describe, expect, it } from "vitest";
import { isMeshError, type MeshError } from "../../../src/errors.ts";
import type { StageBatch, StageKvOp, StageResult, StageRunner } from "../../../src/ports.ts";
import { createMemoryMesh } from "../../../src/pipeline/memory-mesh.ts";
import { greedyGenerate } from "../../support/greedy-driver.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { ToyModel } from "../../support/toy-model.ts";
import { toyHeadStage, toyRemoteStages } from "../../support/toy-remote.ts";

const model = new ToyModel({ layers: 6, vocabSize: 32, hiddenSize: 8 });
const prompt = [3, 1, 4, 1, 5];

/** A runner that takes `computeMs` of virtual time per run and never finishes its `stuckAt`-th run. */
class StallingRunner implements StageRunner {
  runs = 0;
  stuckAtMs: number | null = null;
  release: () => void = () => {};
  readonly inner: StageRunner;
  readonly clock: SimClock;
  readonly stuckAt: number;
  readonly computeMs: number;
  constructor(inner: StageRunner, clock: SimClock, stuckAt: number, computeMs = 0) {
    this.inner = inner;
    this.clock = clock;
    this.stuckAt = stuckAt;
    this.computeMs = computeMs;
  }
  async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
    if (++this.runs === this.stuckAt) {
      this.stuckAtMs = this.clock.now();
      await new Promise<void>((resolve) => (this.release = resolve));
    } else if (this.computeMs > 0) await this.clock.sleep(this.computeMs);
    return this.inner.run(batch, signal);
  }
  kv(op: StageKvOp): Promise<void> {
    return this.inner.kv(op);
  }
}

interface Stall {
  err: MeshError;
  tokens: number;
  /** Virtual ms from the moment the stuck stage took the run to the generation's failure. */
  detectedAfterMs: number;
  pongsDuringStall: number;
}

async function stall(split: number[], stuckStage: number, computeMs = 0): Promise<Stall> {
  const clock = new SimClock();
  const runners: StageRunner[] = toyRemoteStages(model, { split });
  const stuck = new StallingRunner(runners[stuckStage]!, clock, 6, computeMs);
  runners[stuckStage] = stuck;
  const mesh = createMemoryMesh({
    headRunner: toyHeadStage(model),
    stageRunners: runners,
    clock,
    shape: { latencyMs: 10 },
  });
  const headLink = mesh.links.get(`head->s${stuckStage + 1}`)!;
  let tokens = 0;
  let receivedAtStall = 0;
  const err = await clock.run(
    greedyGenerate(mesh.head, {
      prompt,
      maxTokens: 40,
      onToken: () => {
        tokens++;
        receivedAtStall = headLink.stats.messagesReceived;
      },
    }).then(
      () => {
        throw new Error("the generation finished despite the stall");
      },
      (e: unknown) => e as MeshError,
    ),
    { maxTimeMs: 120_000 },
  );
  const failedAtMs = clock.now();
  const pongsDuringStall = headLink.stats.messagesReceived - receivedAtStall;
  // The stage comes back: its late result must change nothing.
  stuck.release();
  await clock.advance(1000);
  expect(mesh.head.failure).toBe(err);
  mesh.destroy();
  return {
    err,
    tokens,
    detectedAfterMs: failedAtMs - (stuck.stuckAtMs ?? Number.NaN),
    pongsDuringStall,
  };
}

describe("a stage that is alive but stuck", () => {
  it("fails the generation with ERR_PEER_LOST naming it within 5 s when runs are fast", async () => {
    const r = await stall([6], 0);
    expect(isMeshError(r.err, "ERR_PEER_LOST")).toBe(true);
    expect(r.err.details).toMatchObject({ peerId: "s1", stageIndex: 1, stalled: true });
    expect(r.tokens).toBe(5); // prefill + 4 canonical runs answered; the 6th run stuck
    expect(r.pongsDuringStall).toBeGreaterThan(5); // its heartbeats kept flowing
    expect(r.detectedAfterMs).toBeGreaterThanOrEqual(4900);
    expect(r.detectedAfterMs).toBeLessThanOrEqual(5100);
  });

  it("waits 3x the measured run time when that is longer than 5 s", async () => {
    const r = await stall([3, 3], 1, 2500); // the tail computes 2.5 s per run
    expect(isMeshError(r.err, "ERR_PEER_LOST")).toBe(true);
    expect(r.err.details).toMatchObject({ peerId: "s2", stageIndex: 2, stalled: true });
    const expected = 2500 + 3 * 10; // compute plus three 10 ms hops
    expect(r.detectedAfterMs).toBeGreaterThan(3 * 2500);
    expect(r.detectedAfterMs).toBeLessThanOrEqual(3 * expected + 200);
  });

  it("names the stuck stage in a longer pipeline", async () => {
    const first = await stall([2, 2, 2], 0);
    expect(first.err.details).toMatchObject({ peerId: "s1", stageIndex: 1 });
    const second = await stall([3, 3], 1);
    expect(second.err.details).toMatchObject({ peerId: "s2", stageIndex: 2 });
  });
});
