// openRoomHead: the one path by which a tab opens a room's head (the chat page, connect()): openHead on
// the browser platform with the room's model files and its draft model, failures to read them coded
// ERR_MODEL_LOAD, and a tokenizer required (a room's head chats). The pipeline is the caller's.

import type { DrafterKind } from "@pipemesh/engine";
import { HeadError } from "../errors.ts";
import { openHead, type Head, type PipelineOpener } from "../open-head.ts";
import { browserPlatform } from "../browser-platform.ts";
import type { ModelSource } from "./model-source.ts";

export interface OpenRoomHeadOptions {
  /** The room's model files (roomModelSource). */
  source: ModelSource;
  pipeline: PipelineOpener;
  /** Undefined: auto (the ONNX export when there is one, else the engine drafter). */
  drafterKind?: DrafterKind | undefined;
  /** Execution provider of an ONNX draft model (default wasm). */
  draftProvider?: "wasm" | "webgpu" | "auto" | undefined;
  /** Cap on the context the head plans for. */
  contextCap?: number | undefined;
  signal?: AbortSignal | undefined;
}

export async function openRoomHead(o: OpenRoomHeadOptions): Promise<Head> {
  const head = await openHead({
    target: o.source.targetUrl,
    draft: o.source.draftUrl,
    drafterKind: o.drafterKind,
    platform: browserPlatform(
      o.draftProvider === undefined ? {} : { draftProvider: o.draftProvider },
    ),
    contextCap: o.contextCap,
    signal: o.signal,
    pipeline: o.pipeline,
  }).catch((e: unknown) => {
    if (typeof (e as { code?: unknown } | null)?.code === "string") throw e;
    throw new HeadError(
      "ERR_MODEL_LOAD",
      `the tokenizer or config of "${o.source.id}" failed to load: ${String(e)}`,
    );
  });
  if (head.tokenizer === undefined) {
    await head.destroy();
    throw new HeadError("ERR_MODEL_LOAD", `"${o.source.id}" has no tokenizer`);
  }
  return head;
}
