// Room fixtures for integration tests: a signaling server on 127.0.0.1:0, a room for the toy model, and
// stage/head peers whose loadStage builds toy shards for whatever range the plan assigns (loopback WebRTC).

import { SignalingClient } from "../../src/signaling/client.ts";
import { nodeRtcOptions, nodeWebSocketFactory } from "../../src/node/web-socket.ts";
import { startSignalingServer, type SignalingServer } from "../../src/node/signaling-server.ts";
import type { ModelInfo, PeerCapabilities } from "../../src/protocol/messages.ts";
import { PeerNode, type RoomEvent, type RoomPeerOptions } from "../../src/room/peer-node.ts";
import { HeadNode } from "../../src/room/head-node.ts";
import type { LoadStage } from "../../src/room/shard-slot.ts";
import type { ToyModel } from "./toy-model.ts";
import { ToyStage } from "./toy-model.ts";
import { toyRemoteStage } from "./toy-remote.ts";

export const TOY_SPEC = { layers: 6, vocabSize: 32, hiddenSize: 8 } as const;

export function toyModelInfo(model: ToyModel): ModelInfo {
  return {
    id: "toy",
    layerCount: model.spec.layers,
    layerBytes: 1000,
    embedBytes: 0,
    headBytes: 0,
  };
}

export function toyCaps(gflops = 1, name?: string): PeerCapabilities {
  return {
    platform: "node",
    adapter: { description: "toy", limits: {} },
    memoryBudgetBytes: 1e9,
    matmulGflops: gflops,
    models: [],
    ...(name === undefined ? {} : { name }),
  };
}

/** Toy shards: the head's embeds (its range starts the pipeline); remote stages take hidden states. */
export function toyLoader(model: ToyModel): LoadStage {
  return (spec) =>
    Promise.resolve(
      spec.embeds
        ? new ToyStage(model, {
            layerStart: spec.layerStart,
            layerEnd: spec.layerEnd,
            kvCells: 1024,
            maxSeqs: 64,
          })
        : toyRemoteStage(model, spec.layerStart, spec.layerEnd),
    );
}

export async function startToyRoom(
  model: ToyModel,
): Promise<{ server: SignalingServer; roomId: string; secret: string }> {
  const server = await startSignalingServer({ port: 0 });
  const client = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
  const { roomId, secret } = await client.createRoom(toyModelInfo(model));
  client.destroy();
  return { server, roomId, secret };
}

export function peerOptions(
  url: string,
  room: { roomId: string; secret: string },
  model: ToyModel,
  extra: Partial<RoomPeerOptions> = {},
): RoomPeerOptions {
  return {
    url,
    roomId: room.roomId,
    secret: room.secret,
    caps: toyCaps(),
    loadStage: toyLoader(model),
    webSocket: nodeWebSocketFactory,
    rtc: nodeRtcOptions({ loopbackOnly: true }),
    ...extra,
  };
}

export async function joinStages(
  n: number,
  url: string,
  room: { roomId: string; secret: string },
  model: ToyModel,
  onEvent?: (i: number, e: RoomEvent) => void,
): Promise<PeerNode[]> {
  const out: PeerNode[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await PeerNode.join(
        peerOptions(
          url,
          room,
          model,
          onEvent === undefined ? {} : { onEvent: (e) => onEvent(i, e) },
        ),
      ),
    );
  }
  return out;
}

export function joinHead(
  url: string,
  room: { roomId: string; secret: string },
  model: ToyModel,
  extra: Partial<RoomPeerOptions> = {},
): Promise<HeadNode> {
  return HeadNode.join(peerOptions(url, room, model, extra));
}
