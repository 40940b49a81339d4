// Node loader for pipemesh's TypeScript sources: registers tsx (TypeScript) and a `?raw` hook so that
// `import src from './x.wgsl?raw'` works the same in Node (CLI, worker_threads) as under Vite/Vitest.
// Import this file first in every Node entry point (bin/pipemesh.mjs, worker bootstraps). Not used by Vite.
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
// Registered after tsx so it runs first and answers `?raw` specifiers before tsx's resolver sees them.
register("./raw-hook.mjs", import.meta.url);
