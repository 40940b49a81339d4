// Node worker_threads entry of the shard worker: registers the TypeScript loader first (Node 20 cannot run
// TS, and Vitest does not transform worker threads), then serves a shard on parentPort with file system
// access to models. Spawned by src/node/spawn-worker.ts.
import "@pipemesh/engine/node-register";
import { parentPort } from "node:worker_threads";

const { nodeEndpoint } = await import("./node-endpoint.ts");
const { serveShard } = await import("./shard.worker.ts");
const { openModelDir } = await import("../node/file-source.ts");

serveShard(nodeEndpoint(parentPort), { openDir: openModelDir });
