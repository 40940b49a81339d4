#!/usr/bin/env node
// The `pipemesh` command: registers the TypeScript loader, then hands over to apps/cli.
import "@pipemesh/engine/node-register";

const { main } = await import("../apps/cli/src/main.ts");
process.exitCode = await main(process.argv.slice(2));
