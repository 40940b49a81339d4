// A room's links cap reassembly at the room model's maxMessageBytes (from its descriptor), not at the 256 MiB
// default: with the cap the model really needs (modelMessageBytes of its hidden and vocabulary sizes) a
// room generates exactly as one peer; with a cap below a run's size the stage refuses the run
// (ERR_MESSAGE_TOO_LARGE) and the head's generation fails instead of the stage buffering it.
import { afterEach, describe, expect, it } from "vitest";
import { LocalPipeline } from "../../src/pipeline/local-pipeline.ts";
import { nodeWebSocketFactory } from "../../src/node/web-socket.ts";
import { startSignalingServer } from "../../src/node/signaling-server.ts";
import { modelMessageBytes } from "../../src/protocol/frame.ts";
import type { RoomEvent } from "../../src/room/peer-node.ts";
import { SignalingClient } from "../../src/signaling/client.ts";
import { greedyGenerate } from "../support/greedy-driver.ts";
import { createToyStages, ToyModel } from "../support/toy-model.ts";
import { joinHead, joinStages, toyModelInfo } from "../support/toy-room.ts";

// hidden 1024: an 80-token prompt is one 320 KiB prefill run.
const model = new ToyModel({ layers: 4, vocabSize: 32, hiddenSize: 1024 });
const prompt = Array.from({ length: 80 }, (_, i) => (i * 7) % 32);

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function room(maxMessageBytes: number, onStageEvent: (e: RoomEvent) => void) {
  const server = await startSignalingServer({ port: 0 });
  cleanup.push(() => server.close());
  const client = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
  const { roomId, secret } = await client.createRoom({ ...toyModelInfo(model), maxMessageBytes });
  client.destroy();
  const stages = await joinStages(1, server.url, { roomId, secret }, model, (_, e) =>
    onStageEvent(e),
  );
  const head = await joinHead(server.url, { roomId, secret }, model);
  cleanup.push(() => [...stages, head].forEach((p) => p.destroy()));
  return head.acquire({ timeoutMs: 60_000 });
}

describe("the room model's message cap on its links", () => {
  it("generates as one peer with the cap the model needs", async () => {
    const cap = modelMessageBytes({ hiddenSize: 1024, vocabSize: 32 });
    expect(cap).toBeLessThan(4 * 1024 * 1024); // far below the 256 MiB default
    const local = new LocalPipeline({ runners: createToyStages(model) });
    const want = (await greedyGenerate(local, { prompt, maxTokens: 8 })).tokens;
    local.destroy();
    const session = await room(cap, () => {});
    expect(session.local).toBe(false);
    const got = await greedyGenerate(session.pipeline, { prompt, maxTokens: 8 });
    expect(got.tokens).toEqual(want);
    session.release();
  });

  it("refuses a run above the room's cap (ERR_MESSAGE_TOO_LARGE at the stage)", async () => {
    const ended: string[] = [];
    const session = await room(64 * 1024, (e) => {
      if (e.type === "session" && e.status === "ended" && e.error !== undefined)
        ended.push(e.error.code);
    });
    expect(session.local).toBe(false);
    await expect(greedyGenerate(session.pipeline, { prompt, maxTokens: 8 })).rejects.toThrow();
    await expect.poll(() => ended).toContain("ERR_MESSAGE_TOO_LARGE");
    session.release();
  });
});
