// Public surface of @pipemesh/engine. Nothing deeper is importable from outside the package.
export * from "./errors.ts";
export * from "./model/batch.ts";

// Model config and weights as backends see them.
export { parseModelConfig, type ModelConfig, type ModelFamily, type RopeConfig } from "./config.ts";
export type { LayerWeights, ShardWeights } from "./model/weights.ts";

// Shards: specs, splitting, loading, the CPU backend, the KV cache metadata both backends share.
export {
  DEFAULT_MAX_SEQS,
  DEFAULT_TOP_K,
  splitLayers,
  type LayerRange,
  type ShardBackend,
  type ShardFactoryArgs,
  type ShardSpec,
} from "./model/shard-spec.ts";
export { loadLayerShard, splitShardSpecs, type LoadShardOptions } from "./model/create-shard.ts";
export { CpuShard, createCpuShard } from "./model/cpu-shard.ts";
export { kvCacheBytes, modelFootprint, type ModelFootprint } from "./model/footprint.ts";
export {
  KvCache,
  type KvCacheOptions,
  type KvCellInfo,
  type KvClaim,
  type KvRows,
} from "./model/kv-cache.ts";
export { validateBatch, type BatchLimits } from "./model/validate-batch.ts";

// The WebGPU backend: its shard factory and device helpers (navigator.gpu, or Dawn in Node).
export { createWebGpuShard, type WebGpuShardOptions } from "./webgpu/create-webgpu-shard.ts";
export {
  borrowDevice,
  defaultGpu,
  describeAdapter,
  GpuContext,
  openDevice,
  pickAdapter,
  requestGpu,
  summarizeAdapter,
  type AdapterSummary,
  type RequestGpuOptions,
} from "./gpu/device.ts";
export { measureCpuGflops, measureGpuGflops, type SpeedTestOptions } from "./gpu/speed-test.ts";
export {
  DEFAULT_PROBE_BUDGET_MS,
  defaultMemoryBudgetBytes,
  PROBED_LIMITS,
  probeCompute,
  probedLimits,
  type ComputeBackend,
  type ComputeProbe,
  type ComputeProbeOptions,
  type HostMemory,
} from "./gpu/probe-compute.ts";

// Model files: sources, directories, config, weights, tokenizer.
export {
  MemoryModelDir,
  MemorySource,
  type ByteSource,
  type ModelDir,
} from "./loader/byte-source.ts";
export { HttpModelDir, HttpSource, type FetchFn, type HttpOptions } from "./loader/http-source.ts";
export {
  entryBytes,
  type CacheEntry,
  type CachePiece,
  type ChunkStore,
  type SourceIdentity,
} from "./cache/chunk-store.ts";
export { CachedSource, type IdentifiedSource } from "./cache/cached-source.ts";
export {
  DEFAULT_PIECE_BYTES,
  WeightCache,
  type WeightCacheOptions,
  type WeightCacheStats,
} from "./cache/weight-cache.ts";
export { OpfsChunkStore } from "./cache/opfs-chunk-store.ts";
export { CacheApiChunkStore } from "./cache/cache-api-chunk-store.ts";
export {
  BrowserChunkStore,
  browserCacheSupported,
  openBrowserCache,
} from "./cache/browser-cache.ts";
export { CONFIG_FILE, loadModelConfig, openUrlModelDir } from "./loader/model-files.ts";
export { loadModelMeta, type ModelMeta } from "./loader/model-meta.ts";
export { GENERATION_CONFIG_FILE, loadGenerationEosIds } from "./loader/generation-config.ts";
export {
  loadShardWeights,
  streamShardWeights,
  type LoadProgress,
  type LoadWeightsOptions,
  type WeightConsumer,
} from "./loader/load-weights.ts";
export { loadModelBytes, type ModelBytes } from "./loader/model-bytes.ts";
export { verifyModelFiles, type DescribedFile } from "./loader/source/verify-files.ts";
export { GgufModelDir, isGgufLocation, isGgufModelDir } from "./loader/gguf-model.ts";
export { readGgufHeader, type GgufHeader, type GgufTensorInfo } from "./loader/gguf/gguf-header.ts";
// Model sources: one spec syntax (directory, .gguf file, http(s) URL, hf:OWNER/REPO[@REV][/FILE.gguf]),
// resolution to files (sizes, sha256, pinned Hub commit) and opening with the token scoped to the Hub.
export {
  isGgufSpec,
  modelSpecName,
  parseModelSpec,
  type ModelSpec,
  type ModelSpecKind,
} from "./loader/source/model-spec.ts";
export {
  DEFAULT_HF_ENDPOINT,
  hubResolveUrl,
  hubSettings,
  resolveModelSource,
  type LocalFiles,
  type ModelSourceFile,
  type ModelSourceOptions,
  type ResolvedModelSource,
} from "./loader/source/resolve-source.ts";
export { openResolvedModelDir, type OpenModelSourceOptions } from "./loader/source/open-source.ts";
export { scopedFetch, type ScopedFetchOptions } from "./loader/source/scoped-fetch.ts";

// Stored tensor types: block geometry, packed matrices and their CPU dequantization.
export {
  ALL_TENSOR_TYPES,
  rowBytes,
  TENSOR_TYPES,
  tensorTypeOfGgml,
  type PackedMatrix,
  type TensorType,
  type TensorTypeInfo,
} from "./quant/tensor-type.ts";
export { dequantizeMatrix, dequantizeRow } from "./quant/dequant.ts";
export {
  loadTokenizer,
  TextTokenizer,
  type DecodeOptions,
  type EncodeOptions,
} from "./tokenizer/text-tokenizer.ts";
export {
  ChatTemplate,
  type ChatMessage,
  type ChatTemplateOptions,
} from "./tokenizer/chat-template.ts";
export { StreamDecoder, type StreamDecoderOptions } from "./tokenizer/stream-decoder.ts";

// Shards in workers.
export {
  ShardClient,
  watchReady,
  type ShardClientOptions,
  type WorkerHandle,
} from "./worker/shard-client.ts";
export { createBrowserShardClient, spawnBrowserShardWorker } from "./worker/spawn-browser.ts";

// Draft models (the mesh's Drafter port, structurally): the engine drafter and its prefix cache.
export type { DraftModel, DraftOptions, DraftPrediction } from "./draft/draft-model.ts";
export {
  DEFAULT_DRAFT_MAX_BATCH_ROWS,
  EngineDrafter,
  type EngineDrafterOptions,
  type EngineDrafterStats,
} from "./draft/engine-drafter.ts";
export {
  DEFAULT_DRAFT_CONTEXT,
  DRAFT_KV_SLACK_CELLS,
  loadEngineDrafter,
  type LoadEngineDrafterOptions,
} from "./draft/load-engine-drafter.ts";
export {
  checkDraftVocab,
  loadTargetVocab,
  readTokenizerJson,
  tokenizerTable,
  type TargetVocab,
} from "./draft/vocab-check.ts";
export {
  cachedPrediction,
  DEFAULT_MAX_STATELESS_NODES,
  mergePrediction,
  PrefixCache,
  PrefixNode,
  type PrefixCacheOptions,
} from "./draft/prefix-cache.ts";

// The ONNX draft model (onnxruntime-web, wasm or WebGPU) and the chooser between it and the engine drafter.
export {
  DEFAULT_ORT_MAX_BATCH_ROWS,
  DEFAULT_ORT_MAX_CHUNK_TOKENS,
  DEFAULT_ORT_MAX_KV_BYTES,
  OrtDrafter,
  type OrtDrafterOptions,
  type OrtDrafterStats,
} from "./draft/ort-drafter.ts";
export {
  findOnnxModel,
  loadOrtDrafter,
  ONNX_MODEL_FILES,
  type DraftLoadProgress,
  type LoadOrtDrafterOptions,
} from "./draft/ort-load.ts";
export {
  createOrtSession,
  type OrtExecutionProvider,
  type OrtProbe,
  type OrtProviderChoice,
  type OrtRuntimeOptions,
} from "./draft/ort-runtime.ts";
export type {
  DraftRunInput,
  DraftRunOutput,
  DraftSession,
  DraftSessionInfo,
} from "./draft/ort-session.ts";
export {
  chooseDrafterKind,
  DRAFTER_NAMES,
  loadDrafter,
  type DrafterKind,
  type DrafterName,
  type LoadDrafterOptions,
  type LoadedDrafter,
} from "./draft/load-drafter.ts";

// Draft models in their own worker (the browser head drafts off the main thread).
export {
  DRAFTER_API_VERSION,
  type DrafterApi,
  type DrafterInfo,
  type DrafterSpec,
} from "./worker/drafter-api.ts";
export {
  DrafterClient,
  watchDrafterReady,
  type DrafterClientOptions,
} from "./worker/drafter-client.ts";
export {
  createBrowserDrafterClient,
  spawnBrowserDrafterWorker,
} from "./worker/spawn-browser-drafter.ts";
