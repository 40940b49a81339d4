// Faults that fail a networked pipeline (in-memory links, the real HeadPipeline and StageServers) are
// recovered from when the scheduler has somewhere to go: NaN activations, an argmax past the vocabulary,
// a result for a run the tail was never given, a stage that goes silent while its links stay up. Each
// fault fails the first mesh with its coded error; the scheduler's recover port hands over a healthy mesh
// and the greedy tokens equal the KV-free reference. Virtual time with a cap, so a hang fails the test.
import { describe, expect, it } from "vitest";
import type { MeshError } from "../../../src/errors.ts";
import { createMemoryMesh, type MemoryMesh } from "../../../src/pipeline/memory-mesh.ts";
import type { StageResult, StageRunner } from "../../../src/ports.ts";
import { PipeInferScheduler } from "../../../src/scheduler/scheduler.ts";
import { referenceGreedy } from "../../support/sim-harness.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { ToyModel } from "../../support/toy-model.ts";
import { tamper, toyHeadStage, toyRemoteStages } from "../../support/toy-remote.ts";

const vocabSize = 32;
const model = new ToyModel({ layers: 4, vocabSize, hiddenSize: 8 });
const prompt = [3, 1, 4, 1, 5];
const capMs = 120_000;
const MAX_TOKENS = 20;

/** Generates on `first` (built on `clock`), recovering onto healthy meshes; returns tokens and failures. */
async function generate(
  clock: SimClock,
  first: MemoryMesh,
  onToken?: (index: number, mesh: MemoryMesh) => void,
): Promise<{ tokens: number[]; failures: MeshError[] }> {
  const meshes = [first];
  const failures: MeshError[] = [];
  const scheduler = new PipeInferScheduler({
    pipeline: first.head,
    clock,
    recover: (error) => {
      failures.push(error);
      const healthy = createMemoryMesh({
        headRunner: toyHeadStage(model),
        stageRunners: toyRemoteStages(model, { split: [2, 2] }),
        clock,
        head: { vocabSize },
      });
      meshes.push(healthy);
      return Promise.resolve(healthy.head);
    },
  });
  const gen = scheduler.generate({ newTokens: prompt, maxTokens: MAX_TOKENS });
  let index = 0;
  const collect = (async () => {
    for await (const ev of gen) {
      for (const _ of ev.tokens) onToken?.(index++, first);
    }
  })();
  const result = await clock.run(gen.result, { maxTimeMs: capMs });
  await clock.run(collect, { maxTimeMs: capMs });
  await clock.run(scheduler.destroy(), { maxTimeMs: capMs });
  for (const m of meshes) m.destroy();
  return { tokens: result.tokens, failures };
}

function mesh(clock: SimClock, stageRunners: StageRunner[], stall = false): MemoryMesh {
  return createMemoryMesh({
    headRunner: toyHeadStage(model),
    stageRunners,
    clock,
    head: { vocabSize, ...(stall ? { stallMinMs: 5000 } : {}) },
  });
}

describe("faults that fail a pipeline are recovered from", () => {
  const expected = referenceGreedy(model, prompt, MAX_TOKENS);

  it("NaN activations: ERR_NONFINITE, then the reference tokens", async () => {
    const clock = new SimClock();
    const [s1, s2] = toyRemoteStages(model, { split: [2, 2] });
    const nan = tamper(s1!, 4, (r) => {
      const hidden = r.hidden?.slice();
      if (hidden !== undefined) hidden[2] = Number.NaN;
      return { ...r, hidden };
    });
    const out = await generate(clock, mesh(clock, [nan, s2!]));
    expect(out.tokens).toEqual(expected);
    expect(out.failures.map((e) => [e.code, e.details?.["peerId"]])).toEqual([
      ["ERR_NONFINITE", "s1"],
    ]);
  });

  it("an argmax past the vocabulary: ERR_RESULT_INVALID, then the reference tokens", async () => {
    const clock = new SimClock();
    const [s1, s2] = toyRemoteStages(model, { split: [2, 2] });
    const wild = tamper(s2!, 3, (r) => ({
      outputs: r.outputs?.map((o) => ({ ...o, argmax: vocabSize + 1 })),
    }));
    const out = await generate(clock, mesh(clock, [s1!, wild]));
    expect(out.tokens).toEqual(expected);
    expect(out.failures.map((e) => [e.code, e.details?.["peerId"]])).toEqual([
      ["ERR_RESULT_INVALID", "s2"],
    ]);
  });

  it("a result for a run the tail was never given: ERR_RESULT_INVALID, then the reference tokens", async () => {
    const clock = new SimClock();
    const first = mesh(clock, toyRemoteStages(model, { split: [2, 2] }));
    const out = await generate(clock, first, (i, m) => {
      if (i === 2)
        m.links.get("s2->head")?.send({
          type: "result",
          runId: 99_999,
          stageComputeMs: 0,
          outputs: [{ row: 0, argmax: 1, prob: 0.5, topIds: [1], topProbs: [0.5] }],
        });
    });
    expect(out.tokens).toEqual(expected);
    expect(out.failures.map((e) => e.code)).toEqual(["ERR_RESULT_INVALID"]);
    expect(out.failures[0]?.message).toMatch(/answered run 99999, which it was not given/);
  });

  it("a stage that stops answering while its links live on: stalled ERR_PEER_LOST, then the reference tokens", async () => {
    const clock = new SimClock();
    const [s1, s2] = toyRemoteStages(model, { split: [2, 2] });
    const stuck = tamper(s2!, 6, () => new Promise<StageResult>(() => {})); // never settles
    const out = await generate(clock, mesh(clock, [s1!, stuck], true));
    expect(out.tokens).toEqual(expected);
    expect(out.failures.map((e) => e.code)).toEqual(["ERR_PEER_LOST"]);
    expect(out.failures[0]?.details?.["stalled"]).toBe(true);
  });
});
