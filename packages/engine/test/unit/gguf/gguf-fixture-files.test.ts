// The GGUF fixture files written by gguf-py: each header reads (from the file, not whole), its config
// matches what the fixture script recorded, its tensors have the recorded types and dims, and its
// tokenizer (where it has one) gives the ids Python recorded. And the converted llama file's Q/K rows,
// un-permuted, equal the safetensors it came from.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensorsHeader } from "../../../src/loader/safetensors.ts";
import { ggufTensorName, unpermuteQkRows } from "../../../src/loader/gguf/gguf-tensors.ts";
import { packedMatrix } from "../../../src/quant/tensor-type.ts";
import { modelFixtureDir } from "../../fixtures/fixtures.ts";
import { ggufEosTokenIds, ggufModelConfig } from "../../../src/loader/gguf/gguf-config.ts";
import { ggmlTypeName, readGgufHeader } from "../../../src/loader/gguf/gguf-header.ts";
import { FileSource } from "../../../src/node/file-source.ts";
import { ggufTextTokenizer } from "../../../src/tokenizer/gguf-tokenizer.ts";
import { GGUF_FIXTURES, ggufFixturePath, loadGgufGolden } from "../../fixtures/gguf-fixtures.ts";

interface RecordedConfig {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  contextLength: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  tokenizerModel: string;
}

interface RecordedTokenizer {
  cases?: { text: string; idsNoSpecial: number[] }[];
}

describe.each(GGUF_FIXTURES)("GGUF fixture %s", (name) => {
  const golden = loadGgufGolden(name);
  const recorded = golden.config as unknown as RecordedConfig;
  const load = () => readGgufHeader(new FileSource(ggufFixturePath(name)));

  it("reads the header and the recorded tensor types and dims", async () => {
    const h = await load();
    expect(h.fileSizeBytes).toBe(golden.size);
    expect(h.dataStart % h.alignment).toBe(0);
    for (const [tensorName, t] of Object.entries(golden.tensors)) {
      const info = h.tensors.get(tensorName);
      expect(info, tensorName).toBeDefined();
      expect([tensorName, ggmlTypeName(info?.ggmlType ?? -1), info?.dims]).toEqual([
        tensorName,
        t.type,
        t.dims,
      ]);
      expect(info?.type, tensorName).toBeDefined();
    }
    // Tensors lie back to back in info order, each padded to the alignment (as gguf.cpp requires).
    let expectOffset = h.dataStart;
    for (const info of h.tensors.values()) {
      expect(info.offset).toBe(expectOffset);
      expectOffset += Math.ceil(info.sizeBytes / h.alignment) * h.alignment;
    }
    expect(expectOffset).toBeLessThanOrEqual(h.fileSizeBytes);
  });

  it("maps the metadata to the recorded config", async () => {
    const c = ggufModelConfig(await load());
    expect(c).toMatchObject({
      family: recorded.architecture,
      vocabSize: recorded.vocabSize,
      hiddenSize: recorded.hiddenSize,
      intermediateSize: recorded.intermediateSize,
      numLayers: recorded.numLayers,
      numHeads: recorded.numHeads,
      numKvHeads: recorded.numKvHeads,
      headDim: recorded.headDim,
      tieWordEmbeddings: recorded.tieWordEmbeddings,
      qkvBias: recorded.attentionBias,
      maxPositions: recorded.contextLength,
      bosTokenId: recorded.bosTokenId ?? undefined,
    });
    expect(c.rope.theta).toBe(recorded.ropeTheta);
    expect(c.rmsNormEps).toBeCloseTo(recorded.rmsNormEps, 9);
    if (recorded.eosTokenId !== null) expect(c.eosTokenIds).toContain(recorded.eosTokenId);
  });

  it("builds the tokenizer and gives the recorded ids", async () => {
    const h = await load();
    if (recorded.tokenizerModel === "none" || recorded.tokenizerModel === undefined) {
      expect(() => ggufTextTokenizer(h)).toThrow(/ERR_TOKENIZER/);
      return;
    }
    const tok = ggufTextTokenizer(h);
    expect(tok.vocabSize).toBe(recorded.vocabSize);
    if (recorded.eosTokenId !== null) expect(ggufEosTokenIds(h)).toContain(recorded.eosTokenId);
    const cases = (golden as unknown as { tokenizer?: RecordedTokenizer }).tokenizer?.cases ?? [];
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      const ids = [...tok.encode(c.text, { addSpecialTokens: false })];
      expect([c.text, ...ids]).toEqual([c.text, ...c.idsNoSpecial]);
    }
  });
});

describe("llama-chat-f32.gguf against the safetensors it was converted from", () => {
  it("un-permuted attn_q/attn_k rows equal q_proj/k_proj bytes; other matrices are unchanged", async () => {
    const gguf = new FileSource(ggufFixturePath("llama-chat-f32"));
    const h = await readGgufHeader(gguf);
    const c = ggufModelConfig(h);
    const st = new FileSource(join(modelFixtureDir("llama-chat-f32"), "model.safetensors"));
    const sh = await readSafetensorsHeader(st);
    const bytesOf = async (src: FileSource, off: number, len: number) => src.read(off, len);
    for (let layer = 0; layer < c.numLayers; layer++) {
      for (const [kind, hf, heads] of [
        ["q", "self_attn.q_proj.weight", c.numHeads],
        ["k", "self_attn.k_proj.weight", c.numKvHeads],
        ["v", "self_attn.v_proj.weight", 0],
        ["gate", "mlp.gate_proj.weight", 0],
      ] as const) {
        const info = h.tensors.get(ggufTensorName({ layer, kind }))!;
        const entry = sh.tensors.get(`model.layers.${layer}.${hf}`)!;
        expect(entry.dtype).toBe("F32");
        const [rows = 0, cols = 0] = entry.shape;
        expect(info.dims).toEqual([cols, rows]);
        const m = packedMatrix("f32", rows, cols, await bytesOf(gguf, info.offset, info.sizeBytes));
        const want = await bytesOf(st, entry.offset, entry.sizeBytes);
        const got = heads > 0 ? unpermuteQkRows(m, heads).data : m.data;
        expect(Buffer.from(got).equals(Buffer.from(want)), `${kind} of layer ${layer}`).toBe(true);
        if (heads > 0) expect(Buffer.from(m.data).equals(Buffer.from(want))).toBe(false);
      }
    }
  });
});
