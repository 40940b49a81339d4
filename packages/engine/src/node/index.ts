// Node-only surface of @pipemesh/engine (Dawn WebGPU, file system sources, worker_threads).
export { FileModelDir, FileSource, openModelDir } from "./file-source.ts";
export {
  createNodeShardClient,
  SHARD_WORKER_BOOTSTRAP,
  spawnNodeShardWorker,
  type NodeWorkerHandle,
} from "./spawn-worker.ts";
