// On every golden fixture model: `pipemesh generate --model DIR --prompt-ids ...
// --temperature 0 --json` returns the greedy tokens transformers computed in float64, on the default
// WebGPU backend and on the CPU backend.

import { describe, expect, it } from "vitest";
import {
  loadGolden,
  MODEL_FIXTURES,
  modelFixtureDir,
} from "../../../../packages/engine/test/fixtures/fixtures.ts";
import { generateTokens } from "../support/run-cli.ts";

describe("pipemesh generate reproduces float64 greedy tokens", () => {
  for (const backend of ["webgpu", "cpu"] as const) {
    for (const name of MODEL_FIXTURES) {
      it(`${name} on ${backend}`, async () => {
        const { golden } = loadGolden(name);
        const { tokens, json } = await generateTokens([
          "--model",
          modelFixtureDir(name),
          "--prompt-ids",
          golden.prompt.join(","),
          "--max-tokens",
          String(golden.greedy.length),
          "--temperature",
          "0",
          "--ignore-eos",
          "--backend",
          backend,
        ]);
        expect(tokens).toEqual(golden.greedy);
        expect(json["backend"]).toBe(backend);
        expect(json["mode"]).toBe("plain");
        expect(json["peers"]).toBe(1);
      });
    }
  }
});
