// At the command line: `generate --peers N` (N peer processes over real WebRTC on
// loopback) returns the same greedy tokens as one peer and as transformers in float64, in every mode,
// with a plan that covers every layer once. Lost peers: generate-recovery.int.test.ts.

import { describe, expect, it } from "vitest";
import { loadGolden, modelFixtureDir } from "../../../../packages/engine/test/fixtures/fixtures.ts";
import { generateTokens } from "../support/run-cli.ts";

const FIXTURE = "mistral-sharded-bf16"; // 4 layers: room for 4 peers
const dir = modelFixtureDir(FIXTURE);
const { golden } = loadGolden(FIXTURE);
const base = [
  "--model",
  dir,
  "--prompt-ids",
  golden.prompt.join(","),
  "--max-tokens",
  String(golden.greedy.length),
  "--temperature",
  "0",
  "--ignore-eos",
];

function expectFullPlan(plan: unknown, peers: number, layers: number): void {
  const stages = plan as { peerId: string; layerStart: number; layerEnd: number }[];
  expect(stages).toHaveLength(peers);
  let next = 0;
  for (const s of stages) {
    expect(s.layerStart).toBe(next);
    expect(s.layerEnd).toBeGreaterThan(s.layerStart);
    next = s.layerEnd;
  }
  expect(next).toBe(layers);
}

describe("pipemesh generate --peers N", () => {
  it("3 CPU peers, plain: float64 greedy tokens, full plan", async () => {
    const { tokens, json } = await generateTokens([...base, "--peers", "3", "--backend", "cpu"]);
    expect(tokens).toEqual(golden.greedy);
    expect(json["peers"]).toBe(3);
    expectFullPlan(json["plan"], 3, 4);
  });

  it("2 WebGPU peers, plain: float64 greedy tokens", async () => {
    const { tokens } = await generateTokens([...base, "--peers", "2"]);
    expect(tokens).toEqual(golden.greedy);
  });

  for (const mode of ["speculative", "pipeinfer"] as const) {
    it(`4 CPU peers, ${mode} with the target as its own draft: same tokens`, async () => {
      const { tokens, json } = await generateTokens([
        ...base,
        "--peers",
        "4",
        "--backend",
        "cpu",
        "--mode",
        mode,
        "--draft",
        dir,
        "--drafter",
        "engine",
      ]);
      expect(tokens).toEqual(golden.greedy);
      expect(json["mode"]).toBe(mode);
      expect(json["drafter"]).toBe("engine");
      expectFullPlan(json["plan"], 4, 4);
      const metrics = json["metrics"] as { acceptanceRate: number };
      expect(metrics.acceptanceRate).toBeGreaterThan(0.9); // the draft is the target
    });
  }
});
