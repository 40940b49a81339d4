// Exactness with the ORT drafter: PipeInferScheduler over a LocalPipeline of the target fixture's CPU
// LayerShards (1 and 3 stages), drafting with onnxruntime-web (wasm) on the ONNX draft fixture made for
// that target, emits exactly the plain single-stage greedy tokens in plain, speculative and pipeinfer
// modes; and `pipemesh generate --peers 3 --mode pipeinfer` on the pair reports the ORT drafter and the
// same tokens.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadLayerShard,
  loadModelConfig,
  loadOrtDrafter,
  splitShardSpecs,
  type LayerShard,
  type ModelConfig,
  type OrtDrafter,
} from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import {
  LocalPipeline,
  PipeInferScheduler,
  type DecodeMode,
  type Drafter,
  type GenerationResult,
  type StageRunner,
} from "@pipemesh/mesh";
import {
  FIXTURES_DIR,
  loadGolden,
  modelFixtureDir,
} from "../../../../packages/engine/test/fixtures/fixtures.ts";
import { generateTokens } from "../support/run-cli.ts";

const TARGET = "llama-chat-f32";
const TARGET_DIR = modelFixtureDir(TARGET);
const DRAFT_DIR = join(FIXTURES_DIR, "onnx", "llama-chat-draft");
const TOKENS = 40;
const { golden } = loadGolden(TARGET);
const PROMPTS = [golden.prompt, [21, 5, 300, 17, 88, 140, 9]];

describe("PipeInfer with the ORT drafter is exact", () => {
  let config: ModelConfig;
  let drafter: OrtDrafter;
  const plain = new Map<number, GenerationResult>();

  async function generate(
    mode: DecodeMode,
    stages: number,
    prompt: number[],
  ): Promise<GenerationResult> {
    const specs = splitShardSpecs(
      { model: TARGET_DIR, backend: "cpu", kvCells: 512 },
      config.numLayers,
      stages,
    );
    const shards: LayerShard[] = await Promise.all(
      specs.map((s) => loadLayerShard(s, { openDir: openModelDir })),
    );
    const pipeline = new LocalPipeline({
      runners: shards satisfies readonly StageRunner[],
      hopLatencyMs: 2,
    });
    await drafter.reset();
    const scheduler = new PipeInferScheduler(
      { pipeline, drafter: mode === "plain" ? null : (drafter satisfies Drafter) },
      { mode },
    );
    try {
      return await scheduler.generate({ newTokens: prompt, maxTokens: TOKENS }).result;
    } finally {
      await scheduler.destroy();
      for (const s of shards) await s.destroy();
    }
  }

  beforeAll(async () => {
    config = await loadModelConfig(openModelDir(TARGET_DIR));
    drafter = await loadOrtDrafter({
      draftDir: DRAFT_DIR,
      openDir: openModelDir,
      targetVocab: { vocabSize: config.vocabSize },
      executionProvider: "wasm",
    });
    for (const [i, prompt] of PROMPTS.entries()) plain.set(i, await generate("plain", 1, prompt));
  });

  afterAll(() => drafter?.destroy());

  it("plain decoding on one stage gives the fixture's float64 greedy tokens", () => {
    expect(plain.get(0)?.tokens.slice(0, golden.greedy.length)).toEqual(golden.greedy);
  });

  for (const stages of [1, 3]) {
    for (const mode of ["plain", "speculative", "pipeinfer"] as const) {
      it(`${mode} on ${stages} stage(s): the plain tokens`, async () => {
        for (const [i, prompt] of PROMPTS.entries()) {
          const result = await generate(mode, stages, prompt);
          expect(result.tokens, `prompt ${i}`).toEqual(plain.get(i)?.tokens);
          if (mode === "plain") continue;
          // The speculative machinery really ran, and the draft was right part of the time.
          expect(result.metrics.speculativeRunsLaunched).toBeGreaterThan(0);
          expect(result.metrics.draftTokensAccepted).toBeGreaterThan(0);
          expect(result.metrics.draftTokensAccepted).toBeLessThan(
            result.metrics.draftTokensVerified,
          );
        }
      });
    }
  }

  it("`pipemesh generate --peers 3 --mode pipeinfer` drafts with onnxruntime-web and returns the plain tokens", async () => {
    const { tokens, json } = await generateTokens([
      "--model",
      TARGET_DIR,
      "--draft",
      DRAFT_DIR,
      "--peers",
      "3",
      "--backend",
      "cpu",
      "--mode",
      "pipeinfer",
      "--prompt-ids",
      golden.prompt.join(","),
      "--max-tokens",
      String(TOKENS),
      "--temperature",
      "0",
      "--ignore-eos",
    ]);
    expect(json["drafter"]).toBe("onnxruntime-web");
    expect(json["mode"]).toBe("pipeinfer");
    expect(tokens).toEqual(plain.get(0)?.tokens);
  });
});
