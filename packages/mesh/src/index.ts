// Public surface of @pipemesh/mesh. Nothing deeper is importable from outside the package.
// Runs in browsers and Node; the Node-only parts (signaling server, ws glue) are in "@pipemesh/mesh/node".
export * from "./errors.ts";
export * from "./ports.ts";

// --- wire protocol (M1) ---
export * from "./protocol/messages.ts";
export {
  MAX_FRAME_BYTES,
  maxRunMessageBytes,
  modelMessageBytes,
  roomMessageBytes,
} from "./protocol/frame.ts";

// --- transport (M1) ---
export type { ByteChannel, ByteChannelEvents } from "./transport/channel.ts";
export { systemClock, type Clock } from "./transport/clock.ts";
export {
  Link,
  type Lane,
  type LinkHandlers,
  type LinkMessage,
  type LinkOptions,
  type LinkStats,
} from "./transport/link.ts";
export { createMemoryChannelPair, createMemoryLinkPair } from "./transport/memory-link.ts";
export { ShapedChannel, shapeChannel, type ShapeOptions } from "./transport/shaped-link.ts";
export {
  connectPeer,
  isLoopbackCandidate,
  type PeerConnectOptions,
  type PeerConnection,
  type RtcOptions,
} from "./transport/peer-channel.ts";

// --- pipeline plan and runtime (M1) ---
export {
  computePlan,
  rangeOf,
  type PlanInput,
  type PlanOutput,
  type PlanPeer,
} from "./pipeline/plan.ts";
export { LocalPipeline, type LocalPipelineOptions } from "./pipeline/local-pipeline.ts";
export { HeadPipeline, type HeadPipelineOptions } from "./pipeline/head-pipeline.ts";
export { StageServer, type StageServerOptions } from "./pipeline/stage-server.ts";
export {
  StageCore,
  type RunHeader,
  type StageInput,
  type StageSink,
} from "./pipeline/stage-core.ts";
export {
  createMemoryMesh,
  type MemoryMesh,
  type MemoryMeshOptions,
} from "./pipeline/memory-mesh.ts";

// --- signaling client and room peers (M1) ---
export {
  SignalingClient,
  type Joined,
  type JoinRequest,
  type SignalingClientOptions,
  type SignalingHandlers,
  type WebSocketFactory,
  type WebSocketLike,
} from "./signaling/client.ts";
export { PeerNode, stageSpecFor, type RoomEvent, type RoomPeerOptions } from "./room/peer-node.ts";
export {
  HeadNode,
  type AcquireOptions,
  type HeadNodeOptions,
  type HeadSession,
} from "./room/head-node.ts";
export type { LoadedStage, LoadStage, StageLoadSpec } from "./room/shard-slot.ts";
export { connectionId } from "./room/connector.ts";
export { parseRoomUrl, roomUrl, signalUrl, SIGNAL_PATH } from "./room/room-url.ts";

// --- PipeInfer scheduler (M2) ---
export {
  PipeInferScheduler,
  type Generation,
  type GenerateRequest,
  type GenerationResult,
  type SchedulerPorts,
} from "./scheduler/scheduler.ts";
export {
  DECODE_MODES,
  DEFAULT_SPECULATION,
  requiredSeqIds,
  resolveConfig,
  resolveMode,
  type DecodeMode,
  type ResolvedConfig,
  type SchedulerConfig,
  type SpeculationOptions,
} from "./scheduler/config.ts";
export type { FinishReason, TokenEvent } from "./scheduler/generation-loop.ts";
export { EventQueue } from "./scheduler/event-queue.ts";
export type { GenerationMetrics } from "./scheduler/metrics.ts";
export type { SamplingOptions } from "./scheduler/sampling.ts";
