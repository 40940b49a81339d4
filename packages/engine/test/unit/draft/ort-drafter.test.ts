// The ORT drafter on onnxruntime-web (wasm, Node) with the draft fixture: greedy ids as PyTorch and
// onnxruntime recorded them, proposals equal to the engine drafter's on the same weights (trees, chains,
// full distributions; exact ties allowed), batched runs equal to one-by-one runs, and a short random call
// sequence against from-scratch runs of the same session.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DraftPrediction } from "../../../src/draft/draft-model.ts";
import type { EngineDrafter } from "../../../src/draft/engine-drafter.ts";
import { loadEngineDrafter } from "../../../src/draft/load-engine-drafter.ts";
import type { OrtDrafter } from "../../../src/draft/ort-drafter.ts";
import { loadOrtDrafter } from "../../../src/draft/ort-load.ts";
import { openModelDir } from "../../../src/node/file-source.ts";
import {
  draftFixtureSession,
  loadOnnxExpected,
  ONNX_DRAFT_DIR,
} from "../../support/onnx-fixtures.ts";
import { expectClosePrediction } from "../../support/ort-reference.ts";
import { Rng } from "../../support/random.ts";
import { describeOrtDrafterFuzz } from "../../suites/ort-draft-fuzz.ts";

const expected = loadOnnxExpected();

describe("OrtDrafter on onnxruntime-web wasm (draft fixture)", () => {
  let ort: OrtDrafter;
  let engine: EngineDrafter;

  beforeAll(async () => {
    ort = await loadOrtDrafter({
      draftDir: ONNX_DRAFT_DIR,
      openDir: openModelDir,
      executionProvider: "wasm",
    });
    engine = await loadEngineDrafter({
      draftDir: ONNX_DRAFT_DIR,
      targetVocab: { vocabSize: ort.vocabSize },
      openDir: openModelDir,
    });
  }, 60_000);

  afterAll(async () => {
    await ort?.destroy();
    await engine?.destroy();
  });

  it("greedy next ids and 8-token continuations equal the recorded PyTorch and onnxruntime ones", async () => {
    expect(ort.executionProvider).toBe("wasm");
    expect(ort.maxPositions).toBe(256);
    for (const c of expected.cases) {
      const ctx = [...c.prompt_ids];
      const greedy: number[] = [];
      for (let i = 0; i < 8; i++) {
        const [p] = await ort.predict([Int32Array.from(ctx)], { topK: 5 });
        if (i === 0) {
          expect(p!.topIds[0]).toBe(c.next_id_torch);
          expect(Array.from(p!.topIds)).toEqual(c.top5_ids);
        }
        greedy.push(p!.topIds[0]!);
        ctx.push(p!.topIds[0]!);
      }
      expect(greedy).toEqual(c.greedy_8_torch);
      expect(greedy).toEqual(c.greedy_8_onnx_kv_cache);
    }
  });

  it("proposes what the engine drafter proposes on the same weights (trees and chains, ties allowed)", async () => {
    await ort.reset();
    await engine.reset();
    const rng = new Rng(31);
    const ties = { count: 0 };
    let compared = 0;
    const both = async (contexts: Int32Array[], topK: number): Promise<DraftPrediction[]> => {
      const [a, b] = await Promise.all([
        ort.predict(contexts, { topK, wantProbs: true }),
        engine.predict(contexts, { topK, wantProbs: true }),
      ]);
      a.forEach((p, i) => {
        expectClosePrediction(p, b[i]!, true, `context [${contexts[i]!.join(",")}]`, 2e-5, ties);
        compared++;
      });
      return b;
    };
    for (const c of expected.cases) {
      let accepted = [...c.prompt_ids];
      await Promise.all([
        ort.accept(Int32Array.from(accepted)),
        engine.accept(Int32Array.from(accepted)),
      ]);
      for (let round = 0; round < 6; round++) {
        // A tree like the scheduler's: top-1 chains plus a branch on each top-2, three levels deep.
        let branches: number[][] = [[]];
        for (let level = 0; level < 3; level++) {
          const contexts = branches.map((b) => Int32Array.from([...accepted, ...b]));
          const preds = await both(contexts, 4);
          const grown: number[][] = [];
          preds.forEach((p, i) => {
            grown.push([...branches[i]!, p.topIds[0]!]);
            if (grown.length < 4) grown.push([...branches[i]!, p.topIds[1]!]);
          });
          branches = grown;
        }
        // The target accepts part of the main line, then a correction token.
        accepted = [...accepted, ...branches[0]!.slice(0, rng.int(3)), rng.int(ort.vocabSize)];
        await Promise.all([
          ort.accept(Int32Array.from(accepted)),
          engine.accept(Int32Array.from(accepted)),
        ]);
      }
    }
    expect(compared).toBeGreaterThan(200);
    // Ties are allowed by the tolerance, but the fixture's margins leave none to allow.
    expect(ties.count).toBe(0);
  });

  it("batched contexts give what one-by-one contexts give", async () => {
    const session = await draftFixtureSession();
    const { OrtDrafter } = await import("../../../src/draft/ort-drafter.ts");
    const single = new OrtDrafter(session, { batchContexts: false });
    try {
      await ort.reset();
      const base = expected.cases[0]!.prompt_ids;
      const contexts = [5, 17, 99, 230].map((t) => Int32Array.from([...base, t]));
      await Promise.all([
        ort.predict([Int32Array.from(base)], { topK: 1 }),
        single.predict([Int32Array.from(base)], { topK: 1 }),
      ]);
      const runs = ort.stats().runs;
      const batched = await ort.predict(contexts, { topK: 8, wantProbs: true });
      expect(ort.stats().runs - runs).toBe(1);
      const oneByOne = await single.predict(contexts, { topK: 8, wantProbs: true });
      batched.forEach((p, i) => expectClosePrediction(p, oneByOne[i]!, true, `row ${i}`, 1e-6));
    } finally {
      await single.destroy();
    }
  });
});

describeOrtDrafterFuzz(
  "onnxruntime-web wasm",
  draftFixtureSession,
  [
    { seed: 11, steps: 60, options: {} },
    {
      seed: 12,
      steps: 60,
      options: { batchContexts: false, maxChunkTokens: 4, maxKvBytes: 10_000 },
    },
  ],
  false,
);
