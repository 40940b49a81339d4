// The whole mesh on loopback: a real signaling server, 1 to 4 stage peers and a head, real WebRTC links
// (node-datachannel), toy shards. The tokens must equal one peer's, the queue must report positions, and a
// room without stage peers runs on the head alone.
import { afterEach, describe, expect, it } from "vitest";
import { LocalPipeline } from "../../src/pipeline/local-pipeline.ts";
import type { SignalingServer } from "../../src/node/signaling-server.ts";
import type { PeerNode } from "../../src/room/peer-node.ts";
import type { HeadNode } from "../../src/room/head-node.ts";
import { greedyGenerate } from "../support/greedy-driver.ts";
import { createToyStages, ToyModel } from "../support/toy-model.ts";
import { joinHead, joinStages, startToyRoom, TOY_SPEC } from "../support/toy-room.ts";

const model = new ToyModel(TOY_SPEC);
const prompt = [2, 7, 1, 8, 2, 8];

async function onePeer(maxTokens: number): Promise<number[]> {
  const pipe = new LocalPipeline({ runners: createToyStages(model) });
  const { tokens } = await greedyGenerate(pipe, { prompt, maxTokens });
  pipe.destroy();
  return tokens;
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

function track(server: SignalingServer, peers: (PeerNode | HeadNode)[]): void {
  cleanup.push(() => server.close());
  cleanup.push(() => peers.forEach((p) => p.destroy()));
}

describe("mesh over WebRTC on loopback", () => {
  it.each([1, 2, 3, 4])("%i stage peer(s): tokens identical to one peer", async (n) => {
    const want = await onePeer(16);
    const { server, roomId, secret } = await startToyRoom(model);
    const stages = await joinStages(n, server.url, { roomId, secret }, model);
    const head = await joinHead(server.url, { roomId, secret }, model);
    track(server, [...stages, head]);
    const t0 = performance.now();
    const session = await head.acquire({ timeoutMs: 60_000 });
    const readyMs = performance.now() - t0;
    expect(session.local).toBe(false);
    expect(session.plan.stages.length).toBe(n + 1);
    expect(session.plan.stages[0]).toMatchObject({
      peerId: head.peerId,
      layerStart: 0,
      layerEnd: 0,
    });
    const got = await greedyGenerate(session.pipeline, { prompt, maxTokens: 16, noise: true });
    expect(got.tokens).toEqual(want);
    expect(got.skipped).toBeGreaterThan(0);
    const links = session.linkStats();
    expect(links.map((l) => l.peerId)).toEqual(stages.map((s) => s.peerId));
    console.log(
      `${n} stage(s): join->ready ${readyMs.toFixed(0)} ms, rtt ${links.map((l) => l.rttMs?.toFixed(2)).join("/")} ms`,
    );
    session.release();
  });

  it("runs on the head alone when no stage peer is in the room", async () => {
    const { server, roomId, secret } = await startToyRoom(model);
    const head = await joinHead(server.url, { roomId, secret }, model);
    track(server, [head]);
    const session = await head.acquire({ timeoutMs: 30_000 });
    expect(session.local).toBe(true);
    expect(session.plan.stages).toEqual([
      { peerId: head.peerId, layerStart: 0, layerEnd: model.spec.layers },
    ]);
    const got = await greedyGenerate(session.pipeline, { prompt, maxTokens: 8 });
    expect(got.tokens).toEqual(await onePeer(8));
    session.release();
  });

  it("queues a second head, tells it its position, and hands it the pipeline after the first", async () => {
    const { server, roomId, secret } = await startToyRoom(model);
    const stages = await joinStages(2, server.url, { roomId, secret }, model);
    const positions: number[] = [];
    const h1 = await joinHead(server.url, { roomId, secret }, model);
    const h2 = await joinHead(server.url, { roomId, secret }, model, {
      onEvent: (e) => {
        if (e.type === "queued") positions.push(e.position);
      },
    });
    track(server, [...stages, h1, h2]);
    const s1 = await h1.acquire({ timeoutMs: 60_000 });
    const second = h2.acquire({ timeoutMs: 60_000 });
    await expect.poll(() => positions).toEqual([1]);
    const a = await greedyGenerate(s1.pipeline, { prompt, maxTokens: 6 });
    s1.release();
    const s2 = await second;
    expect(s2.plan.headId).toBe(h2.peerId);
    expect(s2.plan.version).toBeGreaterThan(s1.plan.version);
    const b = await greedyGenerate(s2.pipeline, { prompt, maxTokens: 6 });
    expect(b.tokens).toEqual(a.tokens);
    s2.release();
  });
});
