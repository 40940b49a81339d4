// Loading ONNX drafts: progress, the coded errors for a missing, unreadable or incompatible ONNX file (each
// naming what is wrong), the vocabulary check against the target, the signature rules for onnx-community
// style metadata, and loadDrafter's choice between the ORT and the engine drafter.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryModelDir } from "../../../src/loader/byte-source.ts";
import { DRAFTER_NAMES, loadDrafter } from "../../../src/draft/load-drafter.ts";
import { loadOrtDrafter, type DraftLoadProgress } from "../../../src/draft/ort-load.ts";
import { readSignature, type OnnxValueInfo } from "../../../src/draft/ort-signature.ts";
import { loadTargetVocab } from "../../../src/draft/vocab-check.ts";
import { openModelDir } from "../../../src/node/file-source.ts";
import { modelFixtureDir } from "../../fixtures/fixtures.ts";
import { ONNX_DRAFT_DIR, ONNX_DRAFT_TARGET, ONNX_NO_KV_DIR } from "../../support/onnx-fixtures.ts";

const toDestroy: { destroy(): Promise<void> }[] = [];
afterAll(() => Promise.all(toDestroy.map((d) => d.destroy())));

function dirWith(files: Record<string, Uint8Array | string>): MemoryModelDir {
  const enc = new TextEncoder();
  const map = new Map(
    Object.entries(files).map(([k, v]) => [k, typeof v === "string" ? enc.encode(v) : v]),
  );
  return new MemoryModelDir(map, "mem://draft");
}

const draftFile = (name: string): Uint8Array => readFileSync(join(ONNX_DRAFT_DIR, name));

describe("loadOrtDrafter", () => {
  it("reports progress and checks the vocabulary against the target's tokenizer", async () => {
    const target = await loadTargetVocab(openModelDir(modelFixtureDir(ONNX_DRAFT_TARGET)));
    const events: DraftLoadProgress[] = [];
    const d = await loadOrtDrafter({
      draftDir: ONNX_DRAFT_DIR,
      openDir: openModelDir,
      targetVocab: target,
      onProgress: (p) => events.push(p),
    });
    toDestroy.push(d);
    const size = draftFile("onnx/model.onnx").byteLength;
    expect(events[0]).toEqual({ phase: "read", doneBytes: 0, totalBytes: size });
    expect(events.map((e) => e.phase)).toEqual(["read", "read", "session", "ready"]);
    expect(events.at(-1)).toEqual({ phase: "ready", doneBytes: size, totalBytes: size });
    // Node's onnxruntime-web is wasm only, so "auto" is wasm here.
    expect(d.executionProvider).toBe("wasm");
    expect(d.vocabSize).toBe(target.vocabSize);
  });

  it("a directory without an ONNX file is ERR_ONNX naming the files it looked for", async () => {
    const dir = modelFixtureDir(ONNX_DRAFT_TARGET);
    await expect(loadOrtDrafter({ draftDir: dir, openDir: openModelDir })).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("onnx/model.onnx or model.onnx is missing") as unknown,
    });
    await expect(
      loadOrtDrafter({
        draftDir: ONNX_DRAFT_DIR,
        openDir: openModelDir,
        onnxFile: "onnx/model_q4.onnx",
      }),
    ).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("onnx/model_q4.onnx is missing") as unknown,
    });
  });

  it("a file onnxruntime cannot parse is ERR_ONNX naming the file", async () => {
    const dir = dirWith({ "onnx/model.onnx": new Uint8Array(64).fill(7) });
    await expect(
      loadOrtDrafter({ draftDir: "mem://draft", openDir: () => dir, executionProvider: "wasm" }),
    ).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("cannot load mem://draft/onnx/model.onnx") as unknown,
    });
  });

  it("a model without KV-cache inputs is ERR_ONNX naming the missing input", async () => {
    await expect(
      loadOrtDrafter({ draftDir: ONNX_NO_KV_DIR, openDir: openModelDir }),
    ).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("no input past_key_values.0.key (no KV cache)") as unknown,
    });
  });

  it("a vocabulary more than 128 trailing ids from the target's is ERR_DRAFT_VOCAB", async () => {
    await expect(
      loadOrtDrafter({
        draftDir: ONNX_DRAFT_DIR,
        openDir: openModelDir,
        targetVocab: { vocabSize: 449 },
      }),
    ).rejects.toMatchObject({
      code: "ERR_DRAFT_VOCAB",
      message: expect.stringContaining("first differing id 320") as unknown,
    });
    // Without config.json the logits' width is compared.
    const dir = dirWith({ "onnx/model.onnx": draftFile("onnx/model.onnx") });
    await expect(
      loadOrtDrafter({
        draftDir: "mem://draft",
        openDir: () => dir,
        targetVocab: { vocabSize: 449 },
      }),
    ).rejects.toMatchObject({
      code: "ERR_DRAFT_VOCAB",
      message: expect.stringContaining("has 320 logits") as unknown,
    });
  });

  it("config.json contradicting the ONNX model is ERR_ONNX", async () => {
    const config = JSON.parse(draftFile("config.json").toString()) as Record<string, unknown>;
    const dir = dirWith({
      "onnx/model.onnx": draftFile("onnx/model.onnx"),
      "config.json": JSON.stringify({ ...config, vocab_size: 400 }),
    });
    await expect(
      loadOrtDrafter({ draftDir: "mem://draft", openDir: () => dir }),
    ).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("vocab_size 400") as unknown,
    });
  });

  it("the WebGPU provider in Node is ERR_ONNX saying to use wasm", async () => {
    await expect(
      loadOrtDrafter({
        draftDir: ONNX_DRAFT_DIR,
        openDir: openModelDir,
        executionProvider: "webgpu",
      }),
    ).rejects.toMatchObject({
      code: "ERR_ONNX",
      message: expect.stringContaining("use wasm") as unknown,
    });
  });
});

describe("readSignature", () => {
  const past = (i: number, kv: string, type = "float32"): OnnxValueInfo => ({
    name: `past_key_values.${i}.${kv}`,
    isTensor: true,
    type,
    shape: ["batch_size", "num_kv_heads", "past_sequence_length", 64],
  });
  const present = (i: number, kv: string): OnnxValueInfo => ({
    name: `present.${i}.${kv}`,
    isTensor: true,
    type: "float32",
    shape: ["batch_size", 3, "total_sequence_length", 64],
  });
  const ids = (name: string): OnnxValueInfo => ({
    name,
    isTensor: true,
    type: "int64",
    shape: ["batch_size", "sequence_length"],
  });
  const inputs = [ids("input_ids"), ids("attention_mask"), past(0, "key"), past(0, "value")];
  const outputs: OnnxValueInfo[] = [
    {
      name: "logits",
      isTensor: true,
      type: "float32",
      shape: ["batch_size", "sequence_length", 49152],
    },
    present(0, "key"),
    present(0, "value"),
  ];

  it("reads an onnx-community style model without position_ids, taking symbolic dims from config", () => {
    const sig = readSignature(inputs, outputs, "m", { kvHeads: 3, headDim: 64 });
    expect(sig).toMatchObject({
      layers: 1,
      kvHeads: 3,
      headDim: 64,
      vocabSize: 49152,
      positionIdsType: undefined,
      pastNames: ["past_key_values.0.key", "past_key_values.0.value"],
      presentNames: ["present.0.key", "present.0.value"],
    });
    expect(() => readSignature(inputs, outputs, "m")).toThrow(/no static kv_heads dimension/);
  });

  it("names a missing output, an unsupported input and a float16 cache", () => {
    expect(() => readSignature(inputs, outputs.slice(0, 2), "m", { kvHeads: 3 })).toThrow(
      /ERR_ONNX: m: the model has no output present\.0\.value/,
    );
    expect(() =>
      readSignature([...inputs, ids("token_type_ids")], outputs, "m", { kvHeads: 3 }),
    ).toThrow(/unsupported input token_type_ids/);
    expect(() =>
      readSignature(
        [inputs[0]!, inputs[1]!, past(0, "key", "float16"), past(0, "value")],
        outputs,
        "m",
        {
          kvHeads: 3,
        },
      ),
    ).toThrow(/input past_key_values\.0\.key is float16, not float32/);
    expect(() => readSignature([inputs[0]!, inputs[1]!], outputs, "m")).toThrow(
      /no input past_key_values\.0\.key/,
    );
  });
});

describe("loadDrafter", () => {
  it("picks the ORT drafter when the draft directory holds an ONNX model, else the engine drafter", async () => {
    const targetConfig = { vocabSize: 320 } as const;
    const ort = await loadDrafter({
      draftDir: ONNX_DRAFT_DIR,
      openDir: openModelDir,
      targetVocab: targetConfig,
    });
    toDestroy.push(ort.drafter);
    expect(ort).toMatchObject({ kind: "ort", name: DRAFTER_NAMES.ort, executionProvider: "wasm" });
    expect(ort.name).toBe("onnxruntime-web");
    expect(ort.maxPositions).toBe(256);

    const engine = await loadDrafter({
      draftDir: modelFixtureDir(ONNX_DRAFT_TARGET),
      openDir: openModelDir,
      targetVocab: targetConfig,
    });
    toDestroy.push(engine.drafter);
    expect(engine).toMatchObject({ kind: "engine", name: "engine", executionProvider: "cpu" });

    const forced = await loadDrafter({
      draftDir: ONNX_DRAFT_DIR,
      kind: "engine",
      openDir: openModelDir,
      targetVocab: targetConfig,
    });
    toDestroy.push(forced.drafter);
    expect(forced.name).toBe("engine");
    const ctx = Int32Array.of(1, 5, 9);
    const [a] = await ort.drafter.predict([ctx], { topK: 3 });
    const [b] = await forced.drafter.predict([ctx], { topK: 3 });
    expect(Array.from(a!.topIds)).toEqual(Array.from(b!.topIds));

    await expect(
      loadDrafter({
        draftDir: modelFixtureDir(ONNX_DRAFT_TARGET),
        kind: "ort",
        openDir: openModelDir,
      }),
    ).rejects.toMatchObject({ code: "ERR_ONNX" });
  });
});
