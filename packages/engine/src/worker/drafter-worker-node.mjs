// Node worker_threads entry of the drafter worker: registers the TypeScript loader first (Node 20 cannot
// run TS, and Vitest does not transform worker threads), then serves a draft model on parentPort with file
// system access to models. Spawned by src/node/spawn-drafter-worker.ts.
import "@pipemesh/engine/node-register";
import { parentPort } from "node:worker_threads";

const { nodeEndpoint } = await import("./node-endpoint.ts");
const { serveDrafter } = await import("./drafter.worker.ts");
const { openModelDir } = await import("../node/file-source.ts");

serveDrafter(nodeEndpoint(parentPort), { openDir: openModelDir });
