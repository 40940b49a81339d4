// Starts the drafter worker as a Node worker_thread (from the .mjs bootstrap that registers the TypeScript
// loader) and loads a draft model in it, so a Node head can draft off its main thread. Prepares Dawn's
// environment first, so an engine drafter on WebGPU in the worker finds an adapter.

import type { DrafterSpec } from "../worker/drafter-api.ts";
import {
  DrafterClient,
  watchDrafterReady,
  type DrafterClientOptions,
} from "../worker/drafter-client.ts";
import { spawnNodeWorker, type NodeWorkerHandle } from "./spawn-worker.ts";

export const DRAFTER_WORKER_BOOTSTRAP = new URL(
  "../worker/drafter-worker-node.mjs",
  import.meta.url,
);

export function spawnNodeDrafterWorker(
  bootstrap: URL = DRAFTER_WORKER_BOOTSTRAP,
): NodeWorkerHandle {
  return spawnNodeWorker(bootstrap, "pipemesh-drafter", watchDrafterReady);
}

/** Spawns a drafter worker_thread and loads `spec` in it (paths or URLs both work in Node). */
export function createNodeDrafterClient(
  spec: DrafterSpec,
  options: DrafterClientOptions = {},
): Promise<DrafterClient> {
  return DrafterClient.create(spawnNodeDrafterWorker(), spec, options);
}
