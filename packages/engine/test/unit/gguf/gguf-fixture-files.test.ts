// The GGUF fixture files written by gguf-py: each header reads (from the file, not whole), its config
// matches what the fixture script recorded, its tensors have the recorded types and dims, and its
// tokenizer (where it has one) gives the ids Python recorded.

import { describe, expect, it } from "vitest";
import { ggufModelConfig } from "../../../src/loader/gguf/gguf-config.ts";
import { ggmlTypeName, readGgufHeader } from "../../../src/loader/gguf/gguf-header.ts";
import { FileSource } from "../../../src/node/file-source.ts";
import { ggufStopTokenIds, ggufTextTokenizer } from "../../../src/tokenizer/gguf-tokenizer.ts";
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
    if (recorded.eosTokenId !== null) expect(ggufStopTokenIds(h)).toContain(recorded.eosTokenId);
    const cases = (golden as unknown as { tokenizer?: RecordedTokenizer }).tokenizer?.cases ?? [];
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      const ids = [...tok.encode(c.text, { addSpecialTokens: false })];
      expect([c.text, ...ids]).toEqual([c.text, ...c.idsNoSpecial]);
    }
  });
});
