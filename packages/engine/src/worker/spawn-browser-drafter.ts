// Starts the drafter worker as a browser module Web Worker (Vite bundles drafter.worker.ts from this URL)
// and loads a draft model in it: the browser head's drafter off the main thread. Browser-only; Node uses
// src/node/spawn-drafter-worker.ts.

import type { DrafterSpec } from "./drafter-api.ts";
import { DrafterClient, watchDrafterReady, type DrafterClientOptions } from "./drafter-client.ts";
import type { WorkerHandle } from "./shard-client.ts";
import { browserWorkerHandle } from "./spawn-browser.ts";

export function spawnBrowserDrafterWorker(): WorkerHandle {
  // The `new Worker(new URL(...))` stays literal here: it is how Vite finds and bundles the worker.
  const worker = new Worker(new URL("./drafter.worker.ts", import.meta.url), {
    type: "module",
    name: "pipemesh-drafter",
  });
  return browserWorkerHandle(worker, watchDrafterReady(worker));
}

/**
 * Spawns a drafter worker and loads `spec` in it. A relative spec.draftDir is resolved against the page
 * first: inside the worker it would resolve against the worker script's URL.
 */
export function createBrowserDrafterClient(
  spec: DrafterSpec,
  options: DrafterClientOptions = {},
): Promise<DrafterClient> {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  const draftDir = page === undefined ? spec.draftDir : new URL(spec.draftDir, page).href;
  return DrafterClient.create(spawnBrowserDrafterWorker(), { ...spec, draftDir }, options);
}
