#!/usr/bin/env node
// The `pipemesh` command of a clone (`npx pipemesh` at the repository root): the CLI package's own bin,
// which runs the current TypeScript sources through the loader (apps/cli/bin/pipemesh.mjs).
import "../apps/cli/bin/pipemesh.mjs";
