// Public surface of @pipemesh/mesh. Nothing deeper is importable from outside the package.
export * from "./errors.ts";
export * from "./ports.ts";

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
  resolveMode,
  type DecodeMode,
  type ResolvedConfig,
  type SchedulerConfig,
  type SpeculationOptions,
} from "./scheduler/config.ts";
export type { FinishReason, TokenEvent } from "./scheduler/generation-loop.ts";
export type { GenerationMetrics } from "./scheduler/metrics.ts";
export type { SamplingOptions } from "./scheduler/sampling.ts";
