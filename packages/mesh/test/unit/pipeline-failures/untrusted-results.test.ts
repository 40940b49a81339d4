// Results that cannot be trusted end a generation with a coded error naming the stage, never a hang: NaN
// activations (caught where they were made, and on the wire by the receiver), an argmax past the
// vocabulary, a result for a run the tail was never given, and a result the decoder refuses (a NaN
// probability turns into null in JSON). Every test runs on a virtual clock with a time cap, so a hang fails.
import { describe, expect, it } from "vitest";
import { isMeshError, type MeshError } from "../../../src/errors.ts";
import type { StageResult, StageRunner } from "../../../src/ports.ts";
import { createMemoryMesh } from "../../../src/pipeline/memory-mesh.ts";
import { encodeRun } from "../../../src/pipeline/wire.ts";
import { greedyGenerate } from "../../support/greedy-driver.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { ToyModel } from "../../support/toy-model.ts";
import { tamper, toyHeadStage, toyRemoteStages } from "../../support/toy-remote.ts";

const vocabSize = 32;
const model = new ToyModel({ layers: 4, vocabSize, hiddenSize: 8 });
const prompt = [3, 1, 4, 1, 5];
/** Virtual time a generation may take before the test counts it as hung. */
const capMs = 60_000;

async function generate(stageRunners: StageRunner[]): Promise<{ err: MeshError; tokens: number }> {
  const clock = new SimClock();
  const mesh = createMemoryMesh({
    headRunner: toyHeadStage(model),
    stageRunners,
    clock,
    head: { vocabSize },
  });
  let tokens = 0;
  const err = await clock.run(
    greedyGenerate(mesh.head, {
      prompt,
      maxTokens: 20,
      onToken: () => {
        tokens++;
      },
    }).then(
      () => {
        throw new Error("the generation finished despite the fault");
      },
      (e: unknown) => e as MeshError,
    ),
    { maxTimeMs: capMs },
  );
  mesh.destroy();
  return { err, tokens };
}

describe("results that cannot be trusted", () => {
  it("a stage whose activations turn NaN fails with ERR_NONFINITE naming it", async () => {
    const [s1, s2] = toyRemoteStages(model, { split: [2, 2] });
    const nan = tamper(s1!, 4, (r) => {
      const hidden = r.hidden?.slice();
      if (hidden !== undefined) hidden[1] = Number.NaN;
      return { ...r, hidden };
    });
    const { err, tokens } = await generate([nan, s2!]);
    expect(isMeshError(err, "ERR_NONFINITE")).toBe(true);
    expect(err.message).toContain("stage s1");
    expect(err.details?.["peerId"]).toBe("s1");
    expect(tokens).toBe(3); // the tokens before the fault were delivered
  });

  it("a tail whose probabilities turn NaN fails with ERR_NONFINITE, not a result nobody can decode", async () => {
    const [s1, s2] = toyRemoteStages(model, { split: [2, 2] });
    const nan = tamper(s2!, 2, (r) => ({
      outputs: r.outputs?.map((o) => ({ ...o, prob: Number.NaN })),
    }));
    const { err } = await generate([s1!, nan]);
    expect(isMeshError(err, "ERR_NONFINITE")).toBe(true);
    expect(err.details?.["peerId"]).toBe("s2");
  });

  it("an argmax past the vocabulary fails with ERR_RESULT_INVALID naming the tail", async () => {
    const [s1] = toyRemoteStages(model, { split: [4] });
    const wild = tamper(s1!, 3, (r) => ({
      outputs: r.outputs?.map((o) => ({ ...o, argmax: vocabSize + 7 })),
    }));
    const { err, tokens } = await generate([wild]);
    expect(isMeshError(err, "ERR_RESULT_INVALID")).toBe(true);
    expect(err.message).toMatch(/argmax 39 is outside the vocabulary \[0, 32\)/);
    expect(err.details?.["peerId"]).toBe("s1");
    expect(tokens).toBe(2);
  });

  it("top-k ids past the vocabulary, or outputs for rows nobody asked for, are ERR_RESULT_INVALID", async () => {
    for (const edit of [
      (r: StageResult): StageResult => ({
        outputs: r.outputs?.map((o) => ({ ...o, topIds: o.topIds.map(() => vocabSize) })),
      }),
      (r: StageResult): StageResult => ({ outputs: r.outputs?.map((o) => ({ ...o, row: 9 })) }),
      (r: StageResult): StageResult => ({ outputs: [...(r.outputs ?? []), ...(r.outputs ?? [])] }),
    ]) {
      const [s1] = toyRemoteStages(model, { split: [4] });
      const { err } = await generate([tamper(s1!, 1, edit)]);
      expect(isMeshError(err, "ERR_RESULT_INVALID"), String(err)).toBe(true);
    }
  });

  it("a tail that answers a run it was not given fails with ERR_RESULT_INVALID", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: toyHeadStage(model),
      stageRunners: toyRemoteStages(model, { split: [4] }),
      clock,
      head: { vocabSize },
    });
    const run = greedyGenerate(mesh.head, {
      prompt,
      maxTokens: 20,
      onToken: (_, i) => {
        if (i === 1)
          mesh.links.get("s1->head")?.send({
            type: "result",
            runId: 999,
            stageComputeMs: 0,
            outputs: [{ row: 0, argmax: 1, prob: 0.5, topIds: [1], topProbs: [0.5] }],
          });
      },
    });
    const err = await clock.run(
      run.catch((e: unknown) => e as MeshError),
      { maxTimeMs: capMs },
    );
    expect(isMeshError(err, "ERR_RESULT_INVALID")).toBe(true);
    expect((err as MeshError).message).toMatch(/answered run 999, which it was not given/);
    expect(mesh.head.failure?.details?.["peerId"]).toBe("s1");
    mesh.destroy();
  });

  it("a result the decoder refuses (null probability) fails the link with ERR_PROTOCOL_DECODE", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: toyHeadStage(model),
      stageRunners: toyRemoteStages(model, { split: [4] }),
      clock,
    });
    const run = greedyGenerate(mesh.head, {
      prompt,
      maxTokens: 20,
      onToken: (_, i) => {
        if (i === 0)
          mesh.links.get("s1->head")?.send({
            type: "result",
            runId: 2,
            stageComputeMs: 0,
            outputs: [{ row: 0, argmax: 1, prob: Number.NaN, topIds: [1], topProbs: [Number.NaN] }],
          });
      },
    });
    const err = await clock.run(
      run.catch((e: unknown) => e as MeshError),
      { maxTimeMs: capMs },
    );
    expect(isMeshError(err, "ERR_PROTOCOL_DECODE")).toBe(true);
    expect(mesh.head.failure?.details?.["peerId"]).toBe("s1");
    mesh.destroy();
  });

  it("NaN activations on the wire are refused by the receiving stage with ERR_NONFINITE naming the sender", async () => {
    const clock = new SimClock();
    const mesh = createMemoryMesh({
      headRunner: toyHeadStage(model),
      stageRunners: toyRemoteStages(model, { split: [4] }),
      clock,
    });
    const hidden = new Float32Array(8).fill(0.5);
    hidden[3] = Number.POSITIVE_INFINITY;
    const { msg, body } = encodeRun(
      {
        runId: 1,
        kind: "canonical",
        positions: Int32Array.of(0),
        seqIds: [[0]],
        outputRows: Int32Array.of(0),
        stageComputeMs: 0,
      },
      hidden,
      "f32",
    );
    mesh.head.launch({
      runId: 1,
      kind: "canonical",
      tokens: Int32Array.of(1),
      positions: Int32Array.of(0),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
    });
    // Stands in for a sender without the producer-side check: the raw frame goes ahead of the head's own.
    mesh.links.get("head->s1")?.send(msg, body);
    const err = await clock.run(
      mesh.head.next().catch((e: unknown) => e as MeshError),
      { maxTimeMs: capMs },
    );
    expect(isMeshError(err, "ERR_NONFINITE")).toBe(true);
    expect((err as MeshError).message).toMatch(
      /stage head: the activations of run 1 hold Infinity/,
    );
    mesh.destroy();
  });
});
