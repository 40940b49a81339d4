// Node worker_threads entry of the shard worker: registers the TypeScript loader first (Node 20 cannot run
// TS, and Vitest does not transform worker threads), then serves a shard on parentPort with file system
// access to models; with workerData.cacheDir, http(s) models read their byte ranges through the weight
// cache in that directory. Spawned by src/node/spawn-worker.ts.
import "@pipemesh/engine/node-register";
import { parentPort, workerData } from "node:worker_threads";

const { nodeEndpoint } = await import("./node-endpoint.ts");
const { serveShard } = await import("./shard.worker.ts");
const { openCachedModelDir, openNodeCache } = await import("../node/cache-dir.ts");

const cacheDir = workerData?.cacheDir;
const cache = typeof cacheDir === "string" ? openNodeCache({ dir: cacheDir }) : undefined;
serveShard(nodeEndpoint(parentPort), {
  openDir: (loc) => openCachedModelDir(loc, cache),
  cacheStats: cache === undefined ? undefined : () => cache.stats,
});
