// A stage that lies is planned out and the generation goes on: in a real room (signaling server, WebRTC
// on loopback), a stage whose activations turn NaN or whose tail answers an argmax past the vocabulary
// fails the head's pipeline with its coded error naming it; the head reports it, the room evicts it
// (ERR_EVICTED reaches the liar) and repairs the plan around it (the other stages keep their ranges), and
// the scheduler replays the sequence into the new pipeline: the tokens equal the KV-free reference.
// Every test is bounded in time, so a hang fails it.
import { afterEach, describe, expect, it } from "vitest";
import { isMeshError, type MeshError } from "../../src/errors.ts";
import type { PipelinePort, StageResult } from "../../src/ports.ts";
import { HeadNode, type HeadSession } from "../../src/room/head-node.ts";
import type { PeerNode } from "../../src/room/peer-node.ts";
import type { LoadStage } from "../../src/room/shard-slot.ts";
import { PipeInferScheduler } from "../../src/scheduler/scheduler.ts";
import { referenceGreedy } from "../support/sim-harness.ts";
import { ToyModel } from "../support/toy-model.ts";
import { tamper, toyRemoteStage } from "../support/toy-remote.ts";
import { peerOptions, startToyRoom, toyLoader, TOY_SPEC } from "../support/toy-room.ts";
import { PeerNode as Peer } from "../../src/room/peer-node.ts";

const model = new ToyModel(TOY_SPEC);
const prompt = [1, 4, 1, 4, 2];
const MAX_TOKENS = 24;

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** A loader whose shards rewrite their results from their `fromRun`-th run on. */
function lyingLoader(fromRun: number, edit: (r: StageResult) => StageResult): LoadStage {
  return (spec) =>
    Promise.resolve(tamper(toyRemoteStage(model, spec.layerStart, spec.layerEnd), fromRun, edit));
}

/**
 * Three stages joined in order (the liar at `liarIndex`, so it gets that place in the plan), a head, and a
 * greedy generation with recovery through HeadNode.recover.
 */
async function generateWithLiar(
  liarIndex: number,
  liar: LoadStage,
): Promise<{
  tokens: number[];
  recovered: MeshError[];
  evicted: MeshError[];
  liarId: string;
  stages: PeerNode[];
}> {
  const { server, roomId, secret } = await startToyRoom(model);
  cleanup.push(() => server.close());
  const room = { roomId, secret };
  const evicted: MeshError[] = [];
  const stages: PeerNode[] = [];
  for (let i = 0; i < 3; i++) {
    const loadStage = i === liarIndex ? liar : toyLoader(model);
    stages.push(
      await Peer.join(
        peerOptions(server.url, room, model, {
          loadStage,
          onEvent: (e) => {
            if (e.type === "error" && i === liarIndex) evicted.push(e.error);
          },
        }),
      ),
    );
  }
  const head = await HeadNode.join({
    ...peerOptions(server.url, room, model),
    vocabSize: TOY_SPEC.vocabSize,
  });
  cleanup.push(() => [...stages, head].forEach((p) => p.destroy()));
  let session: HeadSession = await head.acquire({ timeoutMs: 30_000 });
  expect(session.plan.stages.slice(1).map((s) => [s.layerStart, s.layerEnd])).toEqual([
    [0, 2],
    [2, 4],
    [4, 6],
  ]);
  const recovered: MeshError[] = [];
  const scheduler = new PipeInferScheduler({
    pipeline: session.pipeline,
    recover: async (error, signal): Promise<PipelinePort | null> => {
      recovered.push(error);
      const next = await head.recover(session, error, { signal, timeoutMs: 30_000 });
      if (next === null) return null;
      session = next;
      return next.pipeline;
    },
  });
  const gen = scheduler.generate({ newTokens: prompt, maxTokens: MAX_TOKENS });
  const result = await gen.result;
  await scheduler.destroy();
  session.release();
  return {
    tokens: result.tokens,
    recovered,
    evicted,
    liarId: stages[liarIndex]?.peerId ?? "",
    stages,
  };
}

describe("a lying stage is planned out and the generation goes on", () => {
  const expected = referenceGreedy(model, prompt, MAX_TOKENS);

  it("NaN activations from the middle stage: ERR_NONFINITE, evicted, same tokens", async () => {
    const out = await generateWithLiar(
      1,
      lyingLoader(4, (r) => {
        const hidden = r.hidden?.slice();
        if (hidden !== undefined) hidden[0] = Number.NaN;
        return { ...r, hidden };
      }),
    );
    expect(out.tokens).toEqual(expected);
    expect(out.recovered.map((e) => e.code)).toEqual(["ERR_NONFINITE"]);
    expect(out.recovered[0]?.details?.["peerId"]).toBe(out.liarId);
    expect(out.evicted.some((e) => isMeshError(e, "ERR_EVICTED"))).toBe(true);
  }, 60_000);

  it("an argmax past the vocabulary from the tail: ERR_RESULT_INVALID, evicted, same tokens", async () => {
    const out = await generateWithLiar(
      2,
      lyingLoader(3, (r) => ({
        outputs: r.outputs?.map((o) => ({ ...o, argmax: TOY_SPEC.vocabSize + 3 })),
      })),
    );
    expect(out.tokens).toEqual(expected);
    expect(out.recovered.map((e) => e.code)).toEqual(["ERR_RESULT_INVALID"]);
    expect(out.recovered[0]?.details?.["peerId"]).toBe(out.liarId);
    expect(out.evicted.some((e) => isMeshError(e, "ERR_EVICTED"))).toBe(true);
  }, 60_000);
});
