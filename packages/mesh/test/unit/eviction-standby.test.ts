// The member side of reports and standbys, with the real SignalingClient and PeerNode on the real relay
// (in-memory sockets): a reported stage's client ends with ERR_EVICTED through its close path (and its
// PeerNode says so), a refused report reaches the head as ERR_REPORT_REFUSED, and an idle peer standing
// by preloads its range, reports it ready, and takes the lost stage over without loading again.

import { afterEach, describe, expect, it, vi } from "vitest";
import type { MeshError } from "../../src/errors.ts";
import type { ModelInfo, PeerCapabilities } from "../../src/protocol/messages.ts";
import { PeerNode, standbySpecFor, type RoomEvent } from "../../src/room/peer-node.ts";
import type { LoadedStage, StageLoadSpec } from "../../src/room/shard-slot.ts";
import { SignalingClient, type WebSocketLike } from "../../src/signaling/client.ts";
import { Relay } from "../../src/signaling/relay.ts";
import { relaySocketFactory } from "../support/relay-socket.ts";

const caps = (gflops = 1): PeerCapabilities => ({
  platform: "node",
  adapter: { description: "test", limits: {} },
  memoryBudgetBytes: 1e9,
  matmulGflops: gflops,
  models: [],
});

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.reverse()) f();
  cleanup = [];
});

function relayWith(model: ModelInfo) {
  const relay = new Relay({ broadcastTickMs: 0 });
  cleanup.push(() => relay.destroy());
  const { roomId, secret } = relay.createRoom(model);
  const webSocket = relaySocketFactory(relay);
  const client = async (role: "head" | "stage") => {
    const c = await SignalingClient.connect("mem://relay", { webSocket });
    cleanup.push(() => c.destroy());
    const joined = await c.join({ roomId, secret, role, caps: caps() });
    return { c, peerId: joined.peerId };
  };
  return { relay, roomId, secret, webSocket, client };
}

const toyModel: ModelInfo = {
  id: "toy",
  layerCount: 4,
  layerBytes: 1000,
  embedBytes: 0,
  headBytes: 0,
};

describe("SignalingClient: report and eviction", () => {
  it("a reported stage ends with ERR_EVICTED naming the head's code, through its close handler", async () => {
    const { client, relay, roomId } = relayWith(toyModel);
    const s1 = await client("stage");
    const s2 = await client("stage");
    const h = await client("head");
    let closedWith: MeshError | null = null;
    s2.c.on({ close: (e) => (closedWith = e) });
    const headErrors: MeshError[] = [];
    h.c.on({ error: (e) => headErrors.push(e) });
    h.c.request();
    await vi.waitFor(() => expect(relay.room(roomId)?.plan?.headId).toBe(h.peerId));
    h.c.report(s2.peerId, "ERR_NONFINITE", "stage sent NaN activations");
    await vi.waitFor(() => expect(closedWith).not.toBeNull());
    expect(closedWith!.code).toBe("ERR_EVICTED");
    expect(closedWith!.message).toContain("ERR_NONFINITE");
    expect(s2.c.closed?.code).toBe("ERR_EVICTED");
    expect(relay.room(roomId)?.has(s2.peerId)).toBe(false);
    expect(relay.room(roomId)?.plan?.stages.map((s) => s.peerId)).toEqual([h.peerId, s1.peerId]);
    expect(headErrors).toEqual([]);
  });

  it("a refused report reaches the head's error handler as ERR_REPORT_REFUSED", async () => {
    const { client } = relayWith(toyModel);
    const s1 = await client("stage");
    const h = await client("head"); // not granted the slot: not the active head
    const errors: MeshError[] = [];
    h.c.on({ error: (e) => errors.push(e) });
    h.c.report(s1.peerId, "ERR_PEER_LOST", "gone");
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]?.code).toBe("ERR_REPORT_REFUSED");
    expect(s1.c.closed).toBeNull();
  });

  it("a socket closed with the eviction code alone is ERR_EVICTED too", async () => {
    let ws: WebSocketLike | null = null;
    const client = await SignalingClient.connect("mem://x", {
      webSocket: () => {
        const s: WebSocketLike = {
          readyState: 1,
          send: () => {},
          close: () => {},
          onopen: null,
          onmessage: null,
          onclose: null,
          onerror: null,
        };
        queueMicrotask(() => s.onopen?.({}));
        ws = s;
        return s;
      },
    });
    let closedWith: MeshError | null = null;
    client.on({ close: (e) => (closedWith = e) });
    (ws as WebSocketLike | null)?.onclose?.({
      code: 4003,
      reason: "ERR_EVICTED: reported ERR_PEER_LOST",
    });
    expect(closedWith!.code).toBe("ERR_EVICTED");
    expect(closedWith!.message).toContain("ERR_PEER_LOST");
  });
});

/** A loader that counts what it loads; its shards are never run here (no head serves a pipeline). */
function countingLoader(loads: StageLoadSpec[]) {
  return (spec: StageLoadSpec): Promise<LoadedStage> => {
    loads.push(spec);
    return Promise.resolve({
      run: () => Promise.reject(new Error("not run in this test")),
      kv: () => Promise.resolve(),
    });
  };
}

describe("PeerNode: standby and eviction", () => {
  it("an idle peer preloads its standby range, reports it ready, and takes the lost stage over without loading", async () => {
    // Two layers, three peers: one is surplus and stands by (for stage one: equal sizes, pipeline order).
    const { relay, roomId, secret, webSocket } = relayWith({ ...toyModel, layerCount: 2 });
    const loads = new Map<string, StageLoadSpec[]>();
    const events = new Map<string, RoomEvent[]>();
    const join = async (): Promise<PeerNode> => {
      const mine: StageLoadSpec[] = [];
      const seen: RoomEvent[] = [];
      const node = await PeerNode.join({
        url: "mem://relay",
        roomId,
        secret,
        caps: caps(),
        webSocket,
        settleMs: 5,
        loadStage: countingLoader(mine),
        onEvent: (e) => seen.push(e),
      });
      loads.set(node.peerId, mine);
      events.set(node.peerId, seen);
      cleanup.push(() => node.destroy());
      return node;
    };
    const a = await join();
    const b = await join();
    const x = await join();
    const room = relay.room(roomId)!;
    await vi.waitFor(() =>
      expect(room.plan?.standby).toEqual([{ peerId: x.peerId, layerStart: 0, layerEnd: 1 }]),
    );
    expect(room.plan?.stages.map((s) => s.peerId)).toEqual([a.peerId, b.peerId]);
    // Everyone loads once and reports ready, the standby included.
    await vi.waitFor(() =>
      expect(
        room.state().members.map((m) => m.loaded && [m.loaded.layerStart, m.loaded.layerEnd]),
      ).toEqual([
        [0, 1],
        [1, 2],
        [0, 1],
      ]),
    );
    expect(room.ready).toBe(true);
    expect(loads.get(x.peerId)).toEqual([standbySpecFor(room.plan!, x.peerId, room.model)]);
    expect(loads.get(x.peerId)?.[0]).toMatchObject({
      layerStart: 0,
      layerEnd: 1,
      embeds: false,
      tail: false,
    });
    expect(events.get(x.peerId)?.some((e) => e.type === "session")).toBe(false);

    a.destroy(); // stage one leaves: its standby takes over
    await vi.waitFor(() =>
      expect(room.plan?.stages).toEqual([
        { peerId: x.peerId, layerStart: 0, layerEnd: 1 },
        { peerId: b.peerId, layerStart: 1, layerEnd: 2 },
      ]),
    );
    expect(room.lastRepair).toBe("standby");
    expect(room.ready).toBe(true);
    await new Promise((r) => setTimeout(r, 30)); // past the settle time: nothing loads again
    expect(loads.get(x.peerId)).toHaveLength(1);
    expect(loads.get(b.peerId)).toHaveLength(1);
  });

  it("an evicted peer says ERR_EVICTED and leaves", async () => {
    const { relay, roomId, secret, webSocket, client } = relayWith(toyModel);
    const seen: RoomEvent[] = [];
    const node = await PeerNode.join({
      url: "mem://relay",
      roomId,
      secret,
      caps: caps(),
      webSocket,
      settleMs: 5,
      loadStage: countingLoader([]),
      onEvent: (e) => seen.push(e),
    });
    cleanup.push(() => node.destroy());
    const h = await client("head");
    h.c.request();
    await vi.waitFor(() => expect(relay.room(roomId)?.plan?.headId).toBe(h.peerId));
    h.c.report(node.peerId, "ERR_RESULT_INVALID", "argmax past the vocabulary");
    await vi.waitFor(() => expect(seen.some((e) => e.type === "error")).toBe(true));
    const error = seen.find((e) => e.type === "error");
    expect(error?.type === "error" && error.error.code).toBe("ERR_EVICTED");
    expect(error?.type === "error" && error.error.message).toContain("ERR_RESULT_INVALID");
    expect(relay.room(roomId)?.has(node.peerId)).toBe(false);
  });
});
