#!/usr/bin/env node
// `prepack` of @pipemesh/web: builds the web app (the one vite.config.ts) into apps/web/dist/, the folder
// that package ships and an installed `pipemesh serve` serves (apps/cli/src/commands/serve.ts). The models
// Vite copies from public/ are left out: @pipemesh/cli carries the embedded pair and serves it itself.
// A clone never uses this build: `npm start` builds the repository's own dist/ from the current sources.
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const OUT = fileURLToPath(new URL("../../apps/web/dist/", import.meta.url));
const started = Date.now();
await build({
  configFile: `${REPO}vite.config.ts`,
  logLevel: "warn",
  build: { outDir: OUT, emptyOutDir: true },
});
rmSync(`${OUT}models`, { recursive: true, force: true });
if (!existsSync(`${OUT}index.html`)) throw new Error(`vite build wrote no ${OUT}index.html`);
console.log(`pipemesh build: web -> apps/web/dist (${Date.now() - started} ms)`);
