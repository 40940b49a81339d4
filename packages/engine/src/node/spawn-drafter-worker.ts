// Starts the drafter worker as a Node worker_thread (from the .mjs bootstrap that registers the TypeScript
// loader) and loads a draft model in it, so a Node head can draft off its main thread. Prepares Dawn's
// environment first, so an engine drafter on WebGPU in the worker finds an adapter.

import { Worker } from "node:worker_threads";
import type { DrafterSpec } from "../worker/drafter-api.ts";
import {
  DrafterClient,
  watchDrafterReady,
  type DrafterClientOptions,
} from "../worker/drafter-client.ts";
import { nodeEndpoint } from "../worker/node-endpoint.ts";
import { prepareDawnEnvironment } from "./dawn.ts";
import type { NodeWorkerHandle } from "./spawn-worker.ts";

export const DRAFTER_WORKER_BOOTSTRAP = new URL(
  "../worker/drafter-worker-node.mjs",
  import.meta.url,
);

export function spawnNodeDrafterWorker(
  bootstrap: URL = DRAFTER_WORKER_BOOTSTRAP,
): NodeWorkerHandle {
  // A worker's process.env never reaches native code: Dawn's variables must be set here (see spawn-worker.ts).
  prepareDawnEnvironment();
  const worker = new Worker(bootstrap, { name: "pipemesh-drafter" });
  const endpoint = nodeEndpoint(worker);
  const ready = watchDrafterReady(endpoint);
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

/** Spawns a drafter worker_thread and loads `spec` in it (paths or URLs both work in Node). */
export function createNodeDrafterClient(
  spec: DrafterSpec,
  options: DrafterClientOptions = {},
): Promise<DrafterClient> {
  return DrafterClient.create(spawnNodeDrafterWorker(), spec, options);
}
