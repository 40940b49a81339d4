#!/usr/bin/env node
// `postpack` of @pipemesh/cli: removes apps/cli/public/, the copy of the embedded model pair that
// tools/pack/build.mjs made for the tarball, so that a clone keeps reading the models from public/models.
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

rmSync(fileURLToPath(new URL("../../apps/cli/public/", import.meta.url)), {
  recursive: true,
  force: true,
});
