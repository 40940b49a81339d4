// A stage that disappears mid-generation: killed (SIGKILL: no goodbye, its sockets die with it) or frozen
// (SIGSTOP: sockets stay open, only heartbeats notice). Within 5 s the head's pipeline rejects with
// ERR_PEER_LOST naming that peer, nothing hangs or crashes, and the room re-plans for the next request.
import { fork, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { isMeshError, type MeshError } from "../../src/errors.ts";
import { LocalPipeline } from "../../src/pipeline/local-pipeline.ts";
import type { SignalingServer } from "../../src/node/signaling-server.ts";
import type { HeadNode } from "../../src/room/head-node.ts";
import type { PeerNode } from "../../src/room/peer-node.ts";
import { greedyGenerate } from "../support/greedy-driver.ts";
import { createToyStages, ToyModel } from "../support/toy-model.ts";
import { joinHead, joinStages, startToyRoom, TOY_SPEC } from "../support/toy-room.ts";

const model = new ToyModel(TOY_SPEC);
const prompt = [1, 4, 1, 4, 2];
const childEntry = new URL("../support/ts-child.mjs", import.meta.url);

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

function spawnStage(
  url: string,
  roomId: string,
  secret: string,
): Promise<{ child: ChildProcess; peerId: string }> {
  const child = fork(childEntry, ["./stage-process.ts", url, roomId, secret], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    child.on("message", (m: { event?: string; peerId?: string }) => {
      if (m.event === "joined" && m.peerId !== undefined) resolve({ child, peerId: m.peerId });
    });
    child.once("exit", (code, sig) => reject(new Error(`stage process exited (${code ?? sig})`)));
  });
}

async function setup(): Promise<{
  server: SignalingServer;
  head: HeadNode;
  stages: PeerNode[];
  child: ChildProcess;
  childId: string;
  room: { roomId: string; secret: string };
}> {
  const { server, roomId, secret } = await startToyRoom(model);
  cleanup.push(() => server.close());
  const room = { roomId, secret };
  const [a] = await joinStages(1, server.url, room, model);
  const { child, peerId: childId } = await spawnStage(server.url, roomId, secret);
  const [c] = await joinStages(1, server.url, room, model);
  const head = await joinHead(server.url, room, model);
  const stages = [a!, c!];
  cleanup.push(() => [...stages, head].forEach((p) => p.destroy()));
  return { server, head, stages, child, childId, room };
}

async function onePeer(maxTokens: number): Promise<number[]> {
  const pipe = new LocalPipeline({ runners: createToyStages(model) });
  const { tokens } = await greedyGenerate(pipe, { prompt, maxTokens });
  pipe.destroy();
  return tokens;
}

describe("a stage lost mid-generation", () => {
  it.each(["SIGKILL", "SIGSTOP"] as const)(
    "%s: ERR_PEER_LOST within 5 s, then the room re-plans",
    async (sig) => {
      const { head, child, childId, stages } = await setup();
      const session = await head.acquire({ timeoutMs: 60_000 });
      expect(session.plan.stages.map((s) => s.peerId)).toEqual([
        head.peerId,
        stages[0]!.peerId,
        childId,
        stages[1]!.peerId,
      ]);
      let killedAt = 0;
      const tokens: number[] = [];
      const err = await greedyGenerate(session.pipeline, {
        prompt,
        maxTokens: 100_000,
        onToken: (t, i) => {
          tokens.push(t);
          if (i === 5) {
            killedAt = performance.now();
            child.kill(sig);
          }
        },
      }).catch((e: unknown) => e);
      const detectMs = performance.now() - killedAt;
      expect(isMeshError(err, "ERR_PEER_LOST"), String(err)).toBe(true);
      expect((err as MeshError).details?.["peerId"]).toBe(childId);
      expect(killedAt).toBeGreaterThan(0);
      expect(detectMs).toBeLessThan(5000);
      console.log(
        `${sig}: ERR_PEER_LOST after ${detectMs.toFixed(0)} ms, ${tokens.length} tokens before`,
      );
      expect(tokens.slice(0, 6)).toEqual((await onePeer(6)).slice(0, 6));
      session.release();
      if (sig === "SIGSTOP") child.kill("SIGKILL"); // its signaling socket closes; the room drops it

      // The next request gets a plan without the lost peer, and exact tokens again.
      await expect
        .poll(() => head.state.members.some((m) => m.peerId === childId), { timeout: 10_000 })
        .toBe(false);
      const next = await head.acquire({ timeoutMs: 60_000 });
      expect(next.plan.stages.map((s) => s.peerId)).toEqual([
        head.peerId,
        stages[0]!.peerId,
        stages[1]!.peerId,
      ]);
      const again = await greedyGenerate(next.pipeline, { prompt, maxTokens: 10 });
      expect(again.tokens).toEqual(await onePeer(10));
      next.release();
    },
  );
});
