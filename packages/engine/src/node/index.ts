// Node-only surface of @pipemesh/engine (Dawn WebGPU, file system sources, worker_threads).
export { FileModelDir, FileSource, openModelDir } from "./file-source.ts";
export { nodeLocalFiles, openModelSource } from "./model-source.ts";
export {
  createNodeShardClient,
  SHARD_WORKER_BOOTSTRAP,
  spawnNodeShardWorker,
  type NodeShardWorkerOptions,
  type NodeWorkerHandle,
} from "./spawn-worker.ts";
export { NodeChunkStore } from "./node-chunk-store.ts";
export {
  defaultCacheDir,
  openCachedModelDir,
  openNodeCache,
  type NodeCacheOptions,
} from "./cache-dir.ts";
export {
  DAWN_ADAPTER_CHOICES,
  dawnAdapterFromEnv,
  prepareDawnEnvironment,
  requestDawnGpu,
  SWIFTSHADER_ICDS,
  type DawnAdapterChoice,
  type DawnGpuOptions,
} from "./dawn.ts";
export { defaultNodeMemoryBudgetBytes } from "./memory-budget.ts";
export {
  createNodeDrafterClient,
  DRAFTER_WORKER_BOOTSTRAP,
  spawnNodeDrafterWorker,
} from "./spawn-drafter-worker.ts";
