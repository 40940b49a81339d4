// Issues 4 and 5 at the command line: `generate --peers N` (N peer processes over real WebRTC on
// loopback) returns the same greedy tokens as one peer and as transformers in float64, in every mode,
// with a plan that covers every layer once; and a killed peer ends the run with ERR_PEER_LOST in time.

import { describe, expect, it } from "vitest";
import { loadGolden, modelFixtureDir } from "../../../../packages/engine/test/fixtures/fixtures.ts";
import { collect, generateTokens, startCli } from "../support/run-cli.ts";

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

  it("a killed peer ends the run with ERR_PEER_LOST within 5 s, tokens so far reported", async () => {
    const child = startCli([
      "generate",
      "--model",
      dir,
      "--prompt-ids",
      golden.prompt.join(","),
      "--max-tokens",
      "100000",
      "--ignore-eos",
      "--peers",
      "3",
      "--backend",
      "cpu",
      // 20 ms per hop keeps the run going for seconds (the 256-position context would otherwise fill
      // in about as long as the wait below, and the run could end normally before the kill).
      "--link-latency-ms",
      "20",
      "--json",
    ]);
    const done = collect(child);
    let stderr = "";
    child.stderr?.on("data", (d: string) => (stderr += d));
    await expect
      .poll(() => stderr.includes("pipemesh: pipeline"), { timeout: 120_000, interval: 200 })
      .toBe(true);
    // Let it generate for a moment, then SIGKILL the middle peer process (a child of the CLI).
    await new Promise((r) => setTimeout(r, 1500));
    const { execFileSync } = await import("node:child_process");
    const kids = execFileSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map(Number);
    expect(kids.length).toBe(3);
    const killedAt = Date.now();
    process.kill(kids[1]!, "SIGKILL");
    const r = await done;
    const elapsedMs = Date.now() - killedAt;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERR_PEER_LOST");
    expect(elapsedMs).toBeLessThan(5000);
    const json = r.json as { error: { code: string }; tokens: number[] };
    expect(json.error.code).toBe("ERR_PEER_LOST");
    expect(json.tokens.length).toBeGreaterThan(0);
    expect(json.tokens.slice(0, golden.greedy.length)).toEqual(
      golden.greedy.slice(0, json.tokens.length),
    );
  });
});
