// Where the model files are: an explicit --model/--draft directory (path or URL), or the embedded default
// pair named by public/models/default.json. Resolution only; loading is the engine's.

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliError } from "../cli-error.ts";

/**
 * The embedded models folder (served by `pipemesh serve` under /models/): the repository's public/models in
 * a clone, else the copy an installed @pipemesh/cli package carries in its public/models/ folder (the build
 * copies it there when packing: tools/pack/build.mjs). The relative paths hold from src/head/ and dist/head/.
 */
export const PUBLIC_MODELS_DIR = fileURLToPath(
  [
    new URL("../../../../public/models/", import.meta.url),
    new URL("../../public/models/", import.meta.url),
  ].find((dir) => existsSync(new URL("default.json", dir))) ??
    new URL("../../../../public/models/", import.meta.url),
);

export interface DefaultPair {
  name: string;
  target: string;
  draft: string;
  draftWeak: string | undefined;
}

/** Reads public/models/default.json (paths made absolute). */
export function readDefaultPair(): DefaultPair {
  const file = `${PUBLIC_MODELS_DIR}default.json`;
  if (!existsSync(file)) {
    throw new CliError(
      "ERR_CLI_MODEL",
      `the embedded default model is missing (${file}); pass --model DIR or restore public/models`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new CliError("ERR_CLI_MODEL", `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const o = (json ?? {}) as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof o[k] === "string" ? o[k] : undefined);
  const name = str("name");
  const target = str("target");
  const draft = str("draft");
  if (name === undefined || target === undefined || draft === undefined) {
    throw new CliError("ERR_CLI_MODEL", `${file} must name "name", "target" and "draft"`);
  }
  const weak = str("draftWeak");
  return {
    name,
    target: PUBLIC_MODELS_DIR + target,
    draft: PUBLIC_MODELS_DIR + draft,
    draftWeak: weak === undefined ? undefined : PUBLIC_MODELS_DIR + weak,
  };
}

export interface ModelChoice {
  target: string;
  /** undefined: no draft model (plain mode only). */
  draft: string | undefined;
}

/** --model/--draft as given; without --model, the embedded pair (its draft unless --draft overrides). */
export function chooseModels(model: string | undefined, draft: string | undefined): ModelChoice {
  if (model !== undefined) return { target: model, draft };
  const pair = readDefaultPair();
  return { target: pair.target, draft: draft ?? pair.draft };
}
