// `pipemesh generate --model FILE.gguf` at the command line: the greedy tokens that transformers computes
// in float64 on the same file's dequantized weights, with one local peer (WebGPU and CPU), with peer
// processes over WebRTC (the file served by HTTP Range), and under PipeInfer with a GGUF draft; and the
// plan's weightBytes stay within 1.05x the file bytes of the tensors each stage holds.

import { describe, expect, it } from "vitest";
import {
  GGUF_FIXTURES,
  ggufFixturePath,
  goldenTensorBytes,
  loadGgufGolden,
  type GgufFixture,
} from "../../../../packages/engine/test/fixtures/gguf-fixtures.ts";
import { generateTokens, goldenArgs } from "../support/run-cli.ts";

interface PlanEntry {
  layerStart: number;
  layerEnd: number;
  weightBytes: number | null;
  kvBytes: number | null;
}

/** File bytes of the tensors a stage [layerStart, layerEnd) holds (the tail adds the norm and head). */
function fileBytesOf(fixture: GgufFixture, s: PlanEntry, tail: boolean): number {
  const golden = loadGgufGolden(fixture);
  const { tensors, config } = golden;
  const size = (name: string): number => goldenTensorBytes(golden, name);
  let total = 0;
  for (const name of Object.keys(tensors)) {
    const layer = /^blk\.(\d+)\./.exec(name)?.[1];
    if (layer !== undefined && Number(layer) >= s.layerStart && Number(layer) < s.layerEnd)
      total += size(name);
  }
  if (tail) {
    total += size("output_norm.weight");
    total += config.tieWordEmbeddings ? size("token_embd.weight") : size("output.weight");
  }
  return total;
}

function args(fixture: GgufFixture, ...more: string[]): string[] {
  return ["--model", ggufFixturePath(fixture), ...goldenArgs(loadGgufGolden(fixture)), ...more];
}

function expectPlanWithinFile(fixture: GgufFixture, plan: unknown, layers: number): void {
  const stages = plan as PlanEntry[];
  let next = 0;
  for (const [i, s] of stages.entries()) {
    expect(s.layerStart).toBe(next);
    next = s.layerEnd;
    const file = fileBytesOf(fixture, s, i === stages.length - 1);
    expect(s.weightBytes).toBeGreaterThan(0);
    expect(s.weightBytes!).toBeLessThanOrEqual(1.05 * file);
    expect(s.kvBytes).toBeGreaterThan(0);
  }
  expect(next).toBe(layers);
}

describe("pipemesh generate --model FILE.gguf", () => {
  for (const fixture of GGUF_FIXTURES) {
    it(`${fixture}: one WebGPU peer gives the float64 greedy tokens`, async () => {
      const g = loadGgufGolden(fixture);
      const { tokens, json } = await generateTokens(args(fixture));
      expect(tokens).toEqual(g.greedy);
      expectPlanWithinFile(fixture, json["plan"], g.config.numLayers);
    });
  }

  it("llama-legacy-mix: one CPU peer gives the float64 greedy tokens", async () => {
    const g = loadGgufGolden("llama-legacy-mix");
    const { tokens } = await generateTokens(args("llama-legacy-mix", "--backend", "cpu"));
    expect(tokens).toEqual(g.greedy);
  });

  it("llama-chat-f32: 3 peer processes, one layer each", async () => {
    const g = loadGgufGolden("llama-chat-f32");
    const { tokens, json } = await generateTokens(args("llama-chat-f32", "--peers", "3"));
    expect(tokens).toEqual(g.greedy);
    expect(json["plan"]).toHaveLength(3);
    expectPlanWithinFile("llama-chat-f32", json["plan"], 3);
  });

  it("llama-q4km-mix: --peers 3 under PipeInfer with a GGUF draft (engine drafter)", async () => {
    const g = loadGgufGolden("llama-q4km-mix");
    const { tokens, json } = await generateTokens(
      args(
        "llama-q4km-mix",
        "--peers",
        "3",
        "--mode",
        "pipeinfer",
        "--draft",
        ggufFixturePath("llama-q4km-mix"),
        "--drafter",
        "engine",
      ),
    );
    expect(tokens).toEqual(g.greedy);
    expect(json["drafter"]).toBe("engine");
    expectPlanWithinFile("llama-q4km-mix", json["plan"], 2);
  });
});
