// What model a room runs, asked before the head opens it: joins the room's signaling briefly as a head that
// asks for nothing (heads are planned only while generating), reads the model from the room state and
// leaves. `generate --room URL` then opens that model from the room's server, or checks that a --model
// given with it describes the same model (layer count and stored bytes).

import { parseRoomUrl, SignalingClient, type ModelInfo } from "@pipemesh/mesh";
import { nodeWebSocketFactory } from "@pipemesh/mesh/node";
import { CliError } from "../cli-error.ts";
import { modelUrl } from "../peer/load-stage.ts";
import { modelInfoFor } from "./model-info.ts";

export interface RoomModel {
  info: ModelInfo;
  /** Where the room's server serves the model's files. */
  location: string;
  /** Where the room's draft model is, when the room names one. */
  draftLocation?: string | undefined;
}

export async function peekRoomModel(url: string): Promise<RoomModel> {
  const room = parseRoomUrl(url);
  const client = await SignalingClient.connect(room.signalUrl, { webSocket: nodeWebSocketFactory });
  try {
    const joined = await client.join({
      roomId: room.roomId,
      secret: room.secret,
      role: "head",
      caps: {
        platform: "node",
        adapter: { description: "cli head (model query)", limits: {} },
        memoryBudgetBytes: 0,
        matmulGflops: 0,
        models: [],
        name: "cli-query",
      },
    });
    // The plan may name a shorter context than the model's (the members' memory could not hold it).
    const planned = joined.state.plan?.contextLength;
    const info =
      planned === undefined
        ? joined.state.model
        : { ...joined.state.model, contextLength: planned };
    const location =
      info.source === undefined
        ? modelUrl(room.origin, info.id)
        : new URL(info.source.url, room.origin).href;
    const draft = info.draft;
    return draft === undefined
      ? { info, location }
      : { info, location, draftLocation: new URL(draft.source.url, room.origin).href };
  } finally {
    client.destroy();
  }
}

/** ERR_CLI_MODEL unless the local model at `location` is the room's model (same layers and bytes). */
export async function checkSameModel(location: string, room: ModelInfo): Promise<void> {
  const local = await modelInfoFor(location, room.id);
  const same =
    local.layerCount === room.layerCount &&
    local.embedBytes === room.embedBytes &&
    local.headBytes === room.headBytes;
  if (!same) {
    throw new CliError(
      "ERR_CLI_MODEL",
      `--model ${location} is not the room's model ${room.id} (${local.layerCount} layers, a ${local.embedBytes}-byte table; the room's: ${room.layerCount} layers, ${room.embedBytes} bytes)`,
    );
  }
}
