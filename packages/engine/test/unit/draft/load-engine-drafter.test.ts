// loadEngineDrafter: a fixture directory becomes a working drafter (CPU); a draft whose vocabulary differs
// from the target's (vocab_size, or the tokenizer.json table when both are at hand) is ERR_DRAFT_VOCAB
// naming both sizes.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  isEngineError,
  loadEngineDrafter,
  loadTargetVocab,
  MemoryModelDir,
  type EngineDrafter,
  type LoadProgress,
} from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import { loadGolden, modelFixtureDir, PRIMARY_FIXTURE } from "../../fixtures/fixtures.ts";
import { fixtureConfig, makeShards } from "../../suites/backends.ts";
import { expectSamePrediction, FromScratch } from "../../support/draft-reference.ts";

const draftDir = modelFixtureDir(PRIMARY_FIXTURE);

/** The fixture's files in memory, with tokenizer.json edited by `edit`. */
function editedDir(edit: (tokenizer: { model: { vocab: Record<string, number> } }) => void) {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(draftDir)) files.set(name, readFileSync(join(draftDir, name)));
  const tok = JSON.parse(readFileSync(join(draftDir, "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number> };
  };
  edit(tok);
  files.set("tokenizer.json", new TextEncoder().encode(JSON.stringify(tok)));
  return new MemoryModelDir(files, "edited-draft");
}

const vocabError =
  (...parts: string[]) =>
  (e: unknown) =>
    isEngineError(e, "ERR_DRAFT_VOCAB") && parts.every((p) => e.message.includes(p));

describe("loadEngineDrafter", () => {
  const toDestroy: { destroy(): Promise<void> }[] = [];
  afterAll(() => Promise.all(toDestroy.map((d) => d.destroy())));

  it("loads a draft that shares the target's vocabulary and predicts exactly", async () => {
    const targetVocab = await loadTargetVocab(openModelDir(draftDir));
    expect(targetVocab.vocabSize).toBe(320);
    expect(targetVocab.tokenizerJson).toBeDefined();
    const progress: LoadProgress[] = [];
    const d: EngineDrafter = await loadEngineDrafter({
      draftDir,
      targetVocab,
      kvCells: 32,
      openDir: openModelDir,
      onProgress: (p) => progress.push(p),
    });
    toDestroy.push(d);
    expect(d.vocabSize).toBe(320);
    expect(progress.length).toBeGreaterThan(0);
    const [refShard] = await makeShards("cpu", PRIMARY_FIXTURE, [], { kvCells: 32 });
    const ref = new FromScratch(refShard!);
    toDestroy.push(ref);
    const prompt = Int32Array.from(loadGolden(PRIMARY_FIXTURE).golden.prompt);
    await d.accept(prompt);
    const [got] = await d.predict([prompt], { topK: 3, wantProbs: true });
    expectSamePrediction(got!, await ref.predict(prompt, 3), true, "prompt");
  });

  it("takes the target's config instead, and needs one of the two", async () => {
    const d = await loadEngineDrafter({
      draftDir,
      targetConfig: await fixtureConfig(PRIMARY_FIXTURE),
      kvCells: 16,
      openDir: openModelDir,
    });
    toDestroy.push(d);
    expect(d.vocabSize).toBe(320);
    await expect(loadEngineDrafter({ draftDir, openDir: openModelDir })).rejects.toSatisfy(
      vocabError("targetConfig or targetVocab"),
    );
  });

  it("refuses a draft whose vocab_size is more than 128 trailing ids off, naming both sizes", async () => {
    await expect(
      loadEngineDrafter({
        draftDir,
        targetVocab: { vocabSize: 449 },
        openDir: openModelDir,
      }),
    ).rejects.toSatisfy(vocabError("320", "449", "first differing id 320"));
    // 56 trailing ids apart (llama-sp-f16 has 376) is within the allowance when no tables contradict.
    const d = await loadEngineDrafter({
      draftDir,
      targetConfig: await fixtureConfig("llama-sp-f16"),
      kvCells: 8,
      openDir: openModelDir,
    });
    toDestroy.push(d);
  });

  it("accepts a draft whose table equals the target's at every shared id", async () => {
    // The target has 20 fewer (trailing) ids than the draft.
    const full = (await loadTargetVocab(openModelDir(draftDir))) as {
      vocabSize: number;
      tokenizerJson: { model: { vocab: Record<string, number> }; added_tokens?: unknown[] };
    };
    const tok = structuredClone(full.tokenizerJson);
    for (const [k, id] of Object.entries(tok.model.vocab)) if (id >= 300) delete tok.model.vocab[k];
    tok.added_tokens = [];
    const d = await loadEngineDrafter({
      draftDir,
      targetVocab: { vocabSize: 300, tokenizerJson: tok },
      kvCells: 8,
      openDir: openModelDir,
    });
    toDestroy.push(d);
    expect(d.vocabSize).toBe(320);
  });

  it("refuses a draft whose tokenizer table differs at equal sizes", async () => {
    const targetVocab = await loadTargetVocab(openModelDir(draftDir));
    const swapped = editedDir((t) => {
      const [a, b] = Object.keys(t.model.vocab).slice(-3, -1) as [string, string];
      const ia = t.model.vocab[a]!;
      t.model.vocab[a] = t.model.vocab[b]!;
      t.model.vocab[b] = ia;
    });
    await expect(
      loadEngineDrafter({ draftDir: "draft", targetVocab, openDir: () => swapped }),
    ).rejects.toSatisfy(vocabError("at id", "in the draft", "in the target"));

    const shorter = editedDir((t) => {
      const last = Object.keys(t.model.vocab).at(-1)!;
      delete t.model.vocab[last];
    });
    await expect(
      loadEngineDrafter({ draftDir: "draft", targetVocab, openDir: () => shorter }),
    ).rejects.toSatisfy(vocabError("at id 319", "absent in the draft"));

    // Without the target's tokenizer only vocab_size is compared.
    const d = await loadEngineDrafter({
      draftDir: "draft",
      targetVocab: { vocabSize: 320 },
      kvCells: 8,
      openDir: () => swapped,
    });
    toDestroy.push(d);
  });

  it("reads no tokenizer where the target has none", async () => {
    const v = await loadTargetVocab(openModelDir(modelFixtureDir("llama-gqa4-bias-f32")));
    expect(v).toEqual({ vocabSize: 128 });
  });
});
