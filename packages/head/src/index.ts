// Public surface of @pipemesh/head: openHead (the composition root of a head), the drafter policy, KV
// sizing, platform declarations and the browser platform. Node's platform is in @pipemesh/head/node.
export {
  openHead,
  type Head,
  type OpenedPipeline,
  type OpenHeadOptions,
  type PipelineOpener,
  type PipelineSetup,
  type PlanEntry,
} from "./open-head.ts";
export { planEntries, roomPipeline, type RoomPipelineOptions } from "./room-pipeline.ts";
export { openDrafter, type OpenDrafterOptions, type OpenedDrafter } from "./drafter.ts";
export {
  contextLength,
  DEFAULT_CONTEXT_CAP,
  kvSizing,
  MIN_SEQ_IDS,
  seqIdsFor,
  SPECULATIVE_CELLS,
  type KvSizing,
} from "./kv-sizing.ts";
export type { DrafterRequest, HeadPlatform, PlatformDrafter } from "./platform.ts";
export { browserPlatform, type BrowserPlatformOptions } from "./browser-platform.ts";
export { HeadError, isHeadError, type HeadErrorCode } from "./errors.ts";
export { FifoLock } from "./fifo-lock.ts";
export { chatPromptTokens, type ChatCompletions } from "./openai/chat-completions.ts";
export type { TextCompletions } from "./openai/completions.ts";
export type * from "./openai/types.ts";
