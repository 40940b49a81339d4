// connect(roomUrl): an in-page client of a room. The tab joins the room's signaling as a head (embeddings
// on a CPU shard, no layers), resolves the room's model and draft as the web app does, and opens the
// room's head on the browser platform; chat.completions.create and completions.create take and return
// the OpenAI API's shapes (stream: true gives chunks). The room's generation slot is asked for by the first
// request and kept until close() or until someone else queues for it.

import type { DrafterKind } from "@pipemesh/engine";
import {
  HeadNode,
  parseRoomUrl,
  type HeadSession,
  type PeerCapabilities,
  type RoomState,
  type RtcOptions,
} from "@pipemesh/mesh";
import type { ChatCompletions } from "../openai/chat-completions.ts";
import type { TextCompletions } from "../openai/completions.ts";
import type { Head } from "../open-head.ts";
import { roomModelSource } from "./model-source.ts";
import { roomPipeline } from "../room-pipeline.ts";
import { openRoomHead } from "./room-head.ts";
import { browserStageLoader } from "./stage-loader.ts";

export interface ConnectOptions {
  /** This tab's name in the room's peer list (default "in-page client"). */
  name?: string;
  /** Where the room's server serves models (default: the room origin's /models/). */
  modelsBaseUrl?: string;
  /** Cap on the context the head plans for when the room names none. */
  contextCap?: number;
  drafterKind?: DrafterKind;
  draftProvider?: "wasm" | "webgpu" | "auto";
  rtc?: RtcOptions;
  /** A peer link that hears nothing for this long fails (ms). */
  peerTimeoutMs?: number;
  /** Longest wait for the room's generation slot (ms, default an hour). */
  slotTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface RoomConnection {
  readonly chat: { completions: ChatCompletions };
  readonly completions: TextCompletions;
  /** The head itself (model metadata, generate, reset). */
  readonly head: Head;
  readonly node: HeadNode;
  /** Gives the slot back, frees the draft model and leaves the room. Idempotent. */
  close(): Promise<void>;
}

/** The caps of a tab that is a room's head: embeddings and the draft model, a zero budget (no layers). */
export function headCaps(name: string): PeerCapabilities {
  return {
    platform: "browser",
    adapter: { description: "chat: embeddings + draft model", limits: {} },
    memoryBudgetBytes: 0,
    matmulGflops: 0,
    models: [],
    name: name.slice(0, 128),
  };
}

export async function connect(roomUrl: string, o: ConnectOptions = {}): Promise<RoomConnection> {
  const room = parseRoomUrl(roomUrl);
  const modelsBaseUrl = o.modelsBaseUrl ?? new URL("/models/", room.origin).href;
  const page = globalThis.location?.href ?? room.origin;
  let node: HeadNode | null = null;
  let onState: ((state: RoomState) => void) | null = null;
  const resolve = (id: string, signal?: AbortSignal): ReturnType<typeof roomModelSource> =>
    node === null
      ? roomModelSource({ id } as RoomState["model"], id, modelsBaseUrl, page, signal)
      : roomModelSource(node.state.model, id, modelsBaseUrl, page, signal);
  node = await HeadNode.join({
    url: room.signalUrl,
    roomId: room.roomId,
    secret: room.secret,
    caps: headCaps(o.name ?? "in-page client"),
    loadStage: browserStageLoader({
      resolve,
      backend: (spec) => (spec.layerEnd > spec.layerStart ? "webgpu" : "cpu"),
      contextCap: o.contextCap,
    }),
    ...(o.rtc === undefined ? {} : { rtc: o.rtc }),
    ...(o.peerTimeoutMs === undefined ? {} : { link: { peerTimeoutMs: o.peerTimeoutMs } }),
    onEvent: (e) => {
      if (e.type === "state") onState?.(e.state);
    },
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  const joined = node;
  let held: HeadSession | null = null;
  let head: Head;
  try {
    head = await openRoomHead({
      source: await resolve(joined.state.model.id, o.signal),
      drafterKind: o.drafterKind,
      draftProvider: o.draftProvider,
      contextCap: o.contextCap,
      signal: o.signal,
      pipeline: async ({ signal }) => {
        const session = await joined.acquire({
          signal,
          timeoutMs: o.slotTimeoutMs ?? 60 * 60_000,
        });
        held = session;
        return roomPipeline(joined, session, {
          onRecovered: (next) => (held = next),
          release: (s) => {
            if (held === s) held = null;
            s.release();
          },
        });
      },
    });
  } catch (e) {
    joined.destroy();
    throw e;
  }
  // Between requests, give the slot back when another head waits for it (the next request asks again).
  onState = (state) => {
    if (held === null || head.queueLength > 0) return;
    if (state.queue.some((id) => id !== joined.peerId)) void head.disconnect();
  };
  let closed: Promise<void> | null = null;
  return {
    chat: head.chat,
    completions: head.completions,
    head,
    node: joined,
    close: () =>
      (closed ??= (async () => {
        onState = null;
        await head.destroy().catch(() => undefined);
        joined.destroy();
      })()),
  };
}
