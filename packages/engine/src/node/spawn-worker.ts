// Starts the shard worker as a Node worker_thread (from the .mjs bootstrap that registers the TypeScript
// loader) and returns the handle ShardClient needs; plus createNodeShardClient, spawn + load in one call.
// Prepares Dawn's environment first, so a WebGPU shard in the worker finds an adapter. spawnNodeWorker is
// the spawner the drafter worker shares.

import { Worker } from "node:worker_threads";
import type { ShardSpec } from "../model/shard-spec.ts";
import { prepareDawnEnvironment } from "./dawn.ts";
import { nodeEndpoint } from "../worker/node-endpoint.ts";
import {
  ShardClient,
  watchReady,
  type ShardClientOptions,
  type WorkerHandle,
} from "../worker/shard-client.ts";

export const SHARD_WORKER_BOOTSTRAP = new URL("../worker/shard-worker-node.mjs", import.meta.url);

export interface NodeWorkerHandle extends WorkerHandle {
  /** The worker_thread itself (tests use it to simulate a crash). */
  worker: Worker;
}

/**
 * Spawns a worker_thread from `bootstrap` and returns its handle; `watch` resolves on the worker's ready
 * message (the shard's or the drafter's). Calls prepareDawnEnvironment() first (a no-op off the main
 * thread and for variables already set): Dawn reads EGL_PLATFORM and the Vulkan driver list from the real
 * process environment, which a worker's process.env never changes, so it must be set before the worker
 * opens WebGPU, even when this process's main thread never touches WebGPU.
 */
export function spawnNodeWorker(
  bootstrap: URL,
  name: string,
  watch: (endpoint: NodeWorkerHandle["endpoint"]) => Promise<void>,
  workerData?: unknown,
): NodeWorkerHandle {
  prepareDawnEnvironment();
  const worker = new Worker(bootstrap, workerData === undefined ? { name } : { name, workerData });
  const endpoint = nodeEndpoint(worker);
  const ready = watch(endpoint);
  const deathCallbacks: ((reason: string) => void)[] = [];
  let terminating = false;
  const die = (reason: string): void => {
    for (const cb of deathCallbacks.splice(0)) cb(reason);
  };
  worker.on("error", (e: Error) => die(`uncaught error: ${e.message}`));
  worker.on("exit", (code: number) => die(terminating ? "terminated" : `exited with code ${code}`));
  return {
    worker,
    endpoint,
    ready,
    onDeath: (cb) => {
      deathCallbacks.push(cb);
    },
    terminate: () => {
      terminating = true;
      void worker.terminate();
    },
  };
}

export interface NodeShardWorkerOptions {
  /** Read http(s) models' byte ranges through the weight cache in this directory (src/node/cache-dir.ts). */
  cacheDir?: string | undefined;
}

/** Spawns the shard worker_thread (see spawnNodeWorker). */
export function spawnNodeShardWorker(
  bootstrap: URL = SHARD_WORKER_BOOTSTRAP,
  options: NodeShardWorkerOptions = {},
): NodeWorkerHandle {
  const data = options.cacheDir === undefined ? undefined : { cacheDir: options.cacheDir };
  return spawnNodeWorker(bootstrap, "pipemesh-shard", watchReady, data);
}

/** Spawns a shard worker_thread and loads `spec` in it (paths or URLs both work in Node). */
export function createNodeShardClient(
  spec: ShardSpec,
  options: ShardClientOptions & NodeShardWorkerOptions = {},
): Promise<ShardClient> {
  const { cacheDir, ...clientOptions } = options;
  return ShardClient.create(
    spawnNodeShardWorker(SHARD_WORKER_BOOTSTRAP, { cacheDir }),
    spec,
    clientOptions,
  );
}
