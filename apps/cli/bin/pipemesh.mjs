#!/usr/bin/env node
// The `pipemesh` command (the bin of @pipemesh/cli). In a clone (src/ is next to this folder) it registers
// the TypeScript loader and runs the current sources, never a previous build; in an installed package (no
// src/, only the dist/ that `npm pack` built) it runs the built JavaScript with no loader at all.
import { existsSync } from "node:fs";

const source = new URL("../src/main.ts", import.meta.url);
let main;
if (existsSync(source)) {
  await import("@pipemesh/engine/node-register");
  ({ main } = await import(source.href));
} else {
  ({ main } = await import("../dist/main.js"));
}
process.exitCode = await main(process.argv.slice(2));
