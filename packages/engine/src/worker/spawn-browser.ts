// Starts the shard worker as a browser module Web Worker (Vite bundles shard.worker.ts from this URL) and
// returns the handle ShardClient needs. Browser-only; Node uses src/node/spawn-worker.ts.

import type { LoadProgress } from "../loader/load-weights.ts";
import type { ShardSpec } from "../model/shard-spec.ts";
import {
  ShardClient,
  watchReady,
  type ShardClientOptions,
  type WorkerHandle,
} from "./shard-client.ts";

export function spawnBrowserShardWorker(): WorkerHandle {
  // The `new Worker(new URL(...))` stays literal here: it is how Vite finds and bundles the worker.
  const worker = new Worker(new URL("./shard.worker.ts", import.meta.url), {
    type: "module",
    name: "pipemesh-shard",
  });
  return browserWorkerHandle(worker, watchReady(worker));
}

/** The WorkerHandle of a started module Web Worker whose ready message `ready` watches. */
export function browserWorkerHandle(worker: Worker, ready: Promise<void>): WorkerHandle {
  const deathCallbacks: ((reason: string) => void)[] = [];
  const die = (reason: string): void => {
    for (const cb of deathCallbacks.splice(0)) cb(reason);
  };
  // A dedicated worker has no exit event: an uncaught error or an undeliverable message counts as death.
  worker.addEventListener("error", (ev) => die(`uncaught error: ${ev.message}`));
  worker.addEventListener("messageerror", () => die("a message could not be deserialized"));
  return {
    endpoint: worker,
    ready,
    onDeath: (cb) => {
      deathCallbacks.push(cb);
    },
    terminate: () => {
      worker.terminate();
    },
  };
}

/**
 * Spawns a browser shard worker and loads `spec` in it. A relative spec.model is resolved against the
 * page first: inside the worker it would resolve against the worker script's URL.
 */
export function createBrowserShardClient(
  spec: ShardSpec,
  options: ShardClientOptions & { onProgress?: (p: LoadProgress) => void } = {},
): Promise<ShardClient> {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  const model = page === undefined ? spec.model : new URL(spec.model, page).href;
  return ShardClient.create(spawnBrowserShardWorker(), { ...spec, model }, options);
}
