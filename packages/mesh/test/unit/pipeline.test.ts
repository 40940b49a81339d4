// The pipeline runtime in one process: LocalPipeline and HeadPipeline + StageServers over memory links
// produce the same greedy tokens as one peer, cancel speculative runs (before and during compute), never
// cancel canonical ones, and turn stage failures and lost peers into coded rejections.
import { describe, expect, it } from "vitest";
import { isMeshError } from "../../src/errors.ts";
import type {
  StageBatch,
  StageKvOp,
  StageResult,
  StageRunner,
  RunOutcome,
} from "../../src/ports.ts";
import { LocalPipeline } from "../../src/pipeline/local-pipeline.ts";
import { createMemoryMesh } from "../../src/pipeline/memory-mesh.ts";
import { greedyGenerate } from "../support/greedy-driver.ts";
import { createToyStages, ToyModel } from "../support/toy-model.ts";
import { toyHeadStage, toyRemoteStages } from "../support/toy-remote.ts";
import { SimClock } from "../support/sim-clock.ts";

const model = new ToyModel({ layers: 6, vocabSize: 32, hiddenSize: 8 });
const prompt = [3, 1, 4, 1, 5];
const toyHead = () => toyHeadStage(model);

async function reference(maxTokens: number): Promise<number[]> {
  const pipe = new LocalPipeline({ runners: createToyStages(model) });
  const { tokens } = await greedyGenerate(pipe, { prompt, maxTokens });
  pipe.destroy();
  return tokens;
}

/** A runner that waits on a gate before finishing, so tests can cancel it mid-run. */
class GatedRunner implements StageRunner {
  started: number[] = [];
  aborted: number[] = [];
  release: () => void = () => {};
  readonly inner: StageRunner;
  constructor(inner: StageRunner) {
    this.inner = inner;
  }
  async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
    this.started.push(batch.positions[0] ?? -1);
    await new Promise<void>((resolve, reject) => {
      this.release = resolve;
      signal?.addEventListener("abort", () => {
        this.aborted.push(batch.positions[0] ?? -1);
        reject(new Error("ERR_ABORTED: cancelled"));
      });
    });
    return this.inner.run(batch, signal);
  }
  kv(op: StageKvOp): Promise<void> {
    return this.inner.kv(op);
  }
}

describe("LocalPipeline", () => {
  it("emits the same tokens split over 3 stages as on one, with cancelled noise runs in between", async () => {
    const want = await reference(12);
    expect(new Set(want).size).toBeGreaterThan(2); // a sequence that actually depends on the context
    for (const split of [[6], [1, 2, 3], [3, 3], [1, 1, 1, 1, 1, 1]]) {
      const pipe = new LocalPipeline({ runners: createToyStages(model, { split }) });
      const got = await greedyGenerate(pipe, { prompt, maxTokens: 12, noise: true });
      expect(got.tokens, `split ${split.join("+")}`).toEqual(want);
      expect(got.skipped).toBeGreaterThan(0);
      pipe.destroy();
    }
  });

  it("with simulated hop latency, still exact", async () => {
    const clock = new SimClock();
    const pipe = new LocalPipeline({
      runners: createToyStages(model, { split: [2, 4] }),
      hopLatencyMs: 7,
      clock,
    });
    const got = await clock.run(greedyGenerate(pipe, { prompt, maxTokens: 8, noise: true }));
    expect(got.tokens).toEqual(await reference(8));
    expect(clock.now()).toBeGreaterThanOrEqual(8 * 2 * 7);
  });

  it("aborts a speculative run mid-compute but never a canonical one", async () => {
    const [a, b] = createToyStages(model, { split: [3, 3] });
    const gate = new GatedRunner(b!);
    const pipe = new LocalPipeline({ runners: [a!, gate] });
    const base = { tokens: Int32Array.of(1), seqIds: [[0]], outputRows: Int32Array.of(0) };
    pipe.launch({ ...base, runId: 1, kind: "canonical", positions: Int32Array.of(0) });
    pipe.launch({
      ...base,
      runId: 2,
      kind: "speculative",
      positions: Int32Array.of(1),
      seqIds: [[1]],
    });
    await new Promise((r) => setImmediate(r));
    expect(gate.started).toEqual([0]);
    pipe.cancel([1]); // canonical: ignored
    gate.release();
    const first = await pipe.next();
    expect(first.status).toBe("done");
    await new Promise((r) => setImmediate(r));
    expect(gate.started).toEqual([0, 1]);
    expect(pipe.hasOutcome()).toBe(false);
    pipe.cancel([2]);
    pipe.cancel([2]); // idempotent
    const second = await pipe.next();
    expect(second).toMatchObject({ runId: 2, status: "skipped" });
    expect(gate.aborted).toEqual([1]);
    pipe.destroy();
  });

  it("rejects next() for a stage failure, with nothing outstanding, and on abort", async () => {
    const failing: StageRunner = {
      run: () => Promise.reject(new Error("ERR_KV_FULL: no free cells")),
      kv: () => Promise.resolve(),
    };
    const pipe = new LocalPipeline({
      runners: [createToyStages(model, { split: [3, 3] })[0]!, failing],
    });
    await expect(pipe.next()).rejects.toMatchObject({ code: "ERR_INTERNAL" });
    const ac = new AbortController();
    pipe.launch({
      runId: 1,
      kind: "canonical",
      tokens: Int32Array.of(1),
      positions: Int32Array.of(0),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
    });
    const p = pipe.next(ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "ERR_ABORTED" });
    const err = await pipe.next().catch((e: unknown) => e);
    expect(isMeshError(err, "ERR_STAGE_FAILED")).toBe(true);
    expect(String(err)).toContain("ERR_KV_FULL");
    expect(pipe.hasOutcome()).toBe(true); // a failure is an outcome the scheduler must read
  });
});

describe("HeadPipeline over memory links", () => {
  it("emits the same tokens as one peer through 1 to 4 remote stages", async () => {
    const want = await reference(12);
    for (const split of [[6], [2, 4], [1, 2, 3], [1, 1, 2, 2]]) {
      const mesh = createMemoryMesh({
        headRunner: toyHead(),
        stageRunners: toyRemoteStages(model, { split }),
      });
      const got = await greedyGenerate(mesh.head, { prompt, maxTokens: 12, noise: true });
      expect(got.tokens, `split ${split.join("+")}`).toEqual(want);
      expect(got.skipped).toBeGreaterThan(0);
      const computeMs = got.outcomes.map((o: RunOutcome) => o.stageComputeMs);
      expect(computeMs.every((ms) => ms >= 0)).toBe(true);
      mesh.destroy();
    }
  });

  it("stays exact over shaped links (latency + bandwidth) on a virtual clock", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: toyHead(),
      stageRunners: toyRemoteStages(model, { split: [3, 3] }),
      shape: { latencyMs: 20, bandwidthMbps: 10 },
      clock,
    });
    const got = await clock.run(greedyGenerate(mesh.head, { prompt, maxTokens: 6, noise: true }));
    expect(got.tokens).toEqual(await reference(6));
    // 6 tokens, each at least one trip head -> s1 -> s2 -> head of 3 hops x 20 ms.
    expect(clock.now()).toBeGreaterThanOrEqual(6 * 3 * 20);
    mesh.destroy();
  });

  it("reports a stage failure as ERR_STAGE_FAILED with the stage's message", async () => {
    const failing: StageRunner = {
      run: () => Promise.reject(new Error("ERR_GPU_LOST: device lost")),
      kv: () => Promise.resolve(),
    };
    const mesh = createMemoryMesh({ headRunner: toyHead(), stageRunners: [failing] });
    mesh.head.launch({
      runId: 1,
      kind: "canonical",
      tokens: Int32Array.of(1),
      positions: Int32Array.of(0),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
    });
    const err = await mesh.head.next().catch((e: unknown) => e);
    expect(isMeshError(err, "ERR_STAGE_FAILED")).toBe(true);
    expect(String(err)).toContain("ERR_GPU_LOST");
    mesh.destroy();
  });

  it("rejects with ERR_PEER_LOST naming the stage when a stage leaves mid-generation", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: toyHead(),
      stageRunners: toyRemoteStages(model, { split: [2, 2, 2] }),
      clock,
      link: { heartbeatIntervalMs: 500, peerTimeoutMs: 2000 },
    });
    const run = greedyGenerate(mesh.head, {
      prompt,
      maxTokens: 50,
      onToken: (_, i) => {
        // s2 leaves after 3 tokens (goodbye on its links); silent deaths are in link.test.ts and the int test.
        if (i === 2)
          for (const [name, link] of mesh.links)
            if (name.startsWith("s2->")) link.destroy("killed");
      },
    });
    const err = await clock.run(run.catch((e: unknown) => e));
    expect(isMeshError(err, "ERR_PEER_LOST")).toBe(true);
    expect((err as { details?: Record<string, unknown> }).details?.["peerId"]).toBe("s2");
    mesh.destroy();
  });

  it("carries megabyte activations between stages with backpressure", async () => {
    const hidden = 300_000; // [rows=4, 300k] f32 = 4.8 MB per run
    const wide: StageRunner = {
      run: (b) =>
        Promise.resolve(
          b.hidden !== undefined
            ? {
                outputs: [
                  {
                    row: 3,
                    argmax: Math.round(b.hidden[hidden * 3 + 7] ?? -1),
                    prob: 1,
                    topIds: Int32Array.of(0),
                    topProbs: Float32Array.of(1),
                  },
                ],
              }
            : {
                hidden: Float32Array.from(
                  { length: b.positions.length * hidden },
                  (_, i) => i % 1000,
                ),
              },
        ),
      kv: () => Promise.resolve(),
    };
    const mesh = createMemoryMesh({ headRunner: wide, stageRunners: [wide] });
    for (let r = 1; r <= 3; r++) {
      mesh.head.launch({
        runId: r,
        kind: "prefill",
        tokens: Int32Array.of(1, 2, 3, 4),
        positions: Int32Array.of(0, 1, 2, 3),
        seqIds: [[0], [0], [0], [0]],
        outputRows: Int32Array.of(3),
      });
    }
    for (let r = 1; r <= 3; r++) {
      const out = await mesh.head.next();
      expect(out).toMatchObject({ runId: r, status: "done" });
      expect(out.status === "done" && out.outputs[0]?.argmax).toBe((hidden * 3 + 7) % 1000);
    }
    const s = mesh.head.linkStats()[0]!;
    expect(s.bytesSent).toBeGreaterThan(3 * 4 * hidden * 4);
    mesh.destroy();
  });
});
