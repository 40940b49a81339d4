// The embedded default pair's ONNX drafts (public/models/pipemesh-tiny/{draft,draft-weak}) on the ORT
// drafter (wasm, Node): loadDrafter picks ORT for them, they pass the vocabulary check against the target,
// and their greedy ids equal the PyTorch values their export recorded (onnx/expected.json) and the engine
// drafter's on the same safetensors.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { DraftModel } from "../../../src/draft/draft-model.ts";
import { loadDrafter } from "../../../src/draft/load-drafter.ts";
import { loadTargetVocab } from "../../../src/draft/vocab-check.ts";
import { openModelDir } from "../../../src/node/file-source.ts";

const PAIR = fileURLToPath(new URL("../../../../../public/models/pipemesh-tiny/", import.meta.url));

interface PairCase {
  prompt_ids: number[];
  next_id_torch: number;
  draft_greedy_8_torch: number[];
  draft_greedy_8_onnx_kv_cache: number[];
}

async function greedy(d: DraftModel, prompt: number[], steps: number): Promise<number[]> {
  const ctx = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const [p] = await d.predict([Int32Array.from(ctx)], { topK: 2 });
    out.push(p!.topIds[0]!);
    ctx.push(p!.topIds[0]!);
  }
  await d.accept(Int32Array.from(ctx));
  return out;
}

describe("the embedded default pair's ONNX drafts", () => {
  const toDestroy: DraftModel[] = [];
  afterAll(() => Promise.all(toDestroy.map((d) => d.destroy())));

  for (const name of ["draft", "draft-weak"]) {
    it(`${name}: ORT by default, recorded PyTorch greedy ids, same as the engine drafter`, async () => {
      const dir = `${PAIR}${name}`;
      const { cases } = JSON.parse(readFileSync(`${dir}/onnx/expected.json`, "utf8")) as {
        cases: PairCase[];
      };
      const targetVocab = await loadTargetVocab(openModelDir(`${PAIR}target`));
      const ort = await loadDrafter({ draftDir: dir, targetVocab, openDir: openModelDir });
      const engine = await loadDrafter({
        draftDir: dir,
        kind: "engine",
        targetVocab,
        openDir: openModelDir,
      });
      toDestroy.push(ort.drafter, engine.drafter);
      expect(ort.name).toBe("onnxruntime-web");
      expect(ort.executionProvider).toBe("wasm");
      for (const [i, c] of cases.entries()) {
        const got = await greedy(ort.drafter, c.prompt_ids, 8);
        expect(got[0], `case ${i}: next id`).toBe(c.next_id_torch);
        expect(got, `case ${i}: greedy`).toEqual(c.draft_greedy_8_torch);
        expect(got).toEqual(c.draft_greedy_8_onnx_kv_cache);
        expect(await greedy(engine.drafter, c.prompt_ids, 8), `case ${i}: engine`).toEqual(got);
      }
    });
  }
});
