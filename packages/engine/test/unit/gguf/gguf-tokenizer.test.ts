// Tokenizers from GGUF metadata: the byte-level BPE fixture's tokens and merges as "gpt2" metadata must
// give Python's ids; the SentencePiece fixture as "llama" metadata (scores = -merge rank, as a converter
// writes them) must give Python's ids where SPM-by-score merging agrees, and round-trip text. Plus the
// pre-tokenizer choice, special tokens, chat template, stop ids and refused models.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemorySource } from "../../../src/loader/byte-source.ts";
import { type GgufHeader, readGgufHeader } from "../../../src/loader/gguf/gguf-header.ts";
import {
  GGUF_TOKEN_TYPE,
  ggufTextTokenizer,
  ggufTokenizerParts,
  loadGgufTokenizer,
  mergesFromScores,
} from "../../../src/tokenizer/gguf-tokenizer.ts";
import { ggufEosTokenIds } from "../../../src/loader/gguf/gguf-config.ts";
import {
  loadTokenizerCases,
  tokenizerFixtureDir,
  type TokenizerFixture,
} from "../../fixtures/fixtures.ts";
import { gv, type TypedValue, writeGguf } from "../../support/gguf-writer.ts";

interface FixtureJson {
  added_tokens: { id: number; content: string }[];
  model: { vocab: Record<string, number>; merges: [string, string][] };
}

function fixture(name: TokenizerFixture): { json: FixtureJson; config: Record<string, unknown> } {
  const dir = tokenizerFixtureDir(name);
  return {
    json: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as FixtureJson,
    config: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<
      string,
      unknown
    >,
  };
}

function tokensById(json: FixtureJson): string[] {
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) tokens[id] = t;
  return tokens;
}

function header(meta: [string, TypedValue][]): Promise<GgufHeader> {
  return readGgufHeader(new MemorySource(writeGguf({ metadata: meta }), "tok.gguf"));
}

const ROUND_TRIP = [
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "café über straße, naïve façade",
  "日本語のテキスト、中文字符",
  "emoji 🙂 and 🚀! 👨‍👩‍👧",
  "line one\nline two\n\n\ttabbed",
  "numbers 1234567 and x=3.14",
];

function bytelevelMeta(pre: string | undefined): [string, TypedValue][] {
  const { json, config } = fixture("bytelevel-bpe");
  const tokens = tokensById(json);
  const special = new Set(json.added_tokens.map((t) => t.id));
  const meta: [string, TypedValue][] = [
    ["tokenizer.ggml.model", gv.str("gpt2")],
    ["tokenizer.ggml.tokens", gv.arr("string", tokens)],
    [
      "tokenizer.ggml.token_type",
      gv.arr(
        "i32",
        tokens.map((_, i) => (special.has(i) ? GGUF_TOKEN_TYPE.control : GGUF_TOKEN_TYPE.normal)),
      ),
    ],
    [
      "tokenizer.ggml.merges",
      gv.arr(
        "string",
        json.model.merges.map(([l, r]) => `${l} ${r}`),
      ),
    ],
    ["tokenizer.ggml.eos_token_id", gv.u32(2)],
    ["tokenizer.ggml.padding_token_id", gv.u32(0)],
    ["tokenizer.chat_template", gv.str(config["chat_template"] as string)],
  ];
  if (pre !== undefined) meta.push(["tokenizer.ggml.pre", gv.str(pre)]);
  return meta;
}

describe("GGUF gpt2 (byte-level BPE) tokenizer", () => {
  const expected = loadTokenizerCases("bytelevel-bpe");

  for (const pre of [undefined, "default", "some-future-pre"]) {
    it(`gives Python's ids and decodings (pre ${String(pre)} falls back to GPT-2's regex)`, async () => {
      const h = await header(bytelevelMeta(pre));
      expect(ggufTokenizerParts(h).kind).toBe("gpt2");
      const tok = await loadGgufTokenizer(h);
      expect(tok.vocabSize).toBe(expected.vocabSize);
      for (const c of expected.cases) {
        expect([c.text, ...tok.encode(c.text)]).toEqual([c.text, ...c.ids]);
        expect([...tok.encode(c.text, { addSpecialTokens: false })]).toEqual(c.idsNoSpecial);
        expect(tok.decode(c.ids)).toBe(c.decoded);
        expect(tok.decode(c.ids, { skipSpecialTokens: false })).toBe(c.decodedWithSpecial);
      }
      for (const c of expected.chats) {
        const text = tok.applyChatTemplate(c.messages, {
          addGenerationPrompt: c.addGenerationPrompt,
        });
        expect(text).toBe(c.text);
        expect([
          ...tok.encodeChat(c.messages, { addGenerationPrompt: c.addGenerationPrompt }),
        ]).toEqual(c.ids);
      }
      expect(tok.eosTokenId).toBe(2);
    });
  }

  for (const pre of ["llama-bpe", "qwen2", "smollm"]) {
    it(`carries the ${pre} pre-tokenizer and round-trips text`, async () => {
      const h = await header(bytelevelMeta(pre));
      const parts = ggufTokenizerParts(h);
      expect(parts.kind).toBe(pre === "llama-bpe" ? "llama3" : pre);
      const tok = ggufTextTokenizer(h);
      for (const text of ROUND_TRIP) {
        expect(tok.decode(tok.encode(text, { addSpecialTokens: false }))).toBe(text);
      }
      if (pre !== "qwen2") {
        // llama-bpe groups digits by three, smollm splits every digit.
        const ids = tok.encode("1234567", { addSpecialTokens: false });
        const pieces = [...ids].map((id) => tok.decode([id]));
        expect(pieces.join("")).toBe("1234567");
        const longest = Math.max(...pieces.map((p) => p.length));
        expect(longest).toBeLessThanOrEqual(pre === "smollm" ? 1 : 3);
      }
      expect(tok.encode("<|im_start|>hi", { addSpecialTokens: false })[0]).toBe(1);
    });
  }

  it("adds BOS when add_bos_token says so", async () => {
    const h = await header([
      ...bytelevelMeta("qwen2"),
      ["tokenizer.ggml.bos_token_id", gv.u32(0)],
      ["tokenizer.ggml.add_bos_token", gv.bool(true)],
    ]);
    expect([...ggufTextTokenizer(h).encode("a")].slice(0, 1)).toEqual([0]);
  });
});

/** The SentencePiece fixture as llama metadata: scores = -rank of the merge producing a piece, else 0. */
function spmMeta(extra: [string, TypedValue][] = []): [string, TypedValue][] {
  const { json, config } = fixture("sentencepiece-bpe");
  const tokens = tokensById(json);
  const rank = new Map<string, number>();
  json.model.merges.forEach(([l, r], i) => {
    if (!rank.has(l + r)) rank.set(l + r, i);
  });
  const types = tokens.map((t, i) =>
    i === 0
      ? GGUF_TOKEN_TYPE.unknown
      : i < 3
        ? GGUF_TOKEN_TYPE.control
        : /^<0x[0-9A-F]{2}>$/.test(t)
          ? GGUF_TOKEN_TYPE.byte
          : GGUF_TOKEN_TYPE.normal,
  );
  const base: [string, TypedValue][] = [
    ["tokenizer.ggml.model", gv.str("llama")],
    ["tokenizer.ggml.tokens", gv.arr("string", tokens)],
    [
      "tokenizer.ggml.scores",
      gv.arr(
        "f32",
        tokens.map((t) => -(rank.get(t) ?? 0)),
      ),
    ],
    ["tokenizer.ggml.token_type", gv.arr("i32", types)],
    ["tokenizer.ggml.bos_token_id", gv.u32(1)],
    ["tokenizer.ggml.eos_token_id", gv.u32(2)],
    ["tokenizer.ggml.unknown_token_id", gv.u32(0)],
    ["tokenizer.ggml.add_bos_token", gv.bool(true)],
    ["tokenizer.ggml.add_eos_token", gv.bool(false)],
    ["tokenizer.chat_template", gv.str(config["chat_template"] as string)],
  ];
  return [...base.filter(([k]) => !extra.some(([e]) => e === k)), ...extra];
}

describe("GGUF llama (SentencePiece) tokenizer", () => {
  const expected = loadTokenizerCases("sentencepiece-bpe");

  it("derives the fixture's merges from the scores", () => {
    const { json } = fixture("sentencepiece-bpe");
    const tokens = tokensById(json);
    const rank = new Map<string, number>();
    json.model.merges.forEach(([l, r], i) => rank.set(l + r, Math.min(rank.get(l + r) ?? i, i)));
    const merges = mergesFromScores(
      tokens,
      tokens.map((t) => -(rank.get(t) ?? 0)),
      tokens.map((t, i) => (i < 3 || /^<0x/.test(t) ? 3 : 1)),
    );
    // Every merge of the fixture is there, and the merged pieces come in the fixture's order.
    const key = (m: [string, string]) => m.join(" ");
    const got = new Set(merges.map(key));
    for (const m of json.model.merges) expect(got.has(key(m))).toBe(true);
    const firstOf = (piece: string) => merges.findIndex(([l, r]) => l + r === piece);
    const order = json.model.merges.map(([l, r]) => firstOf(l + r));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("gives Python's ids where SPM merging agrees, and decodes as Python does", async () => {
    const h = await header(spmMeta());
    expect(ggufTokenizerParts(h).kind).toBe("spm");
    const tok = await loadGgufTokenizer(h);
    expect(tok.vocabSize).toBe(expected.vocabSize);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    let agree = 0;
    for (const c of expected.cases) {
      const ids = [...tok.encode(c.text)];
      if (JSON.stringify(ids) === JSON.stringify(c.ids)) agree++;
      expect(ids[0]).toBe(1);
      expect(tok.decode(c.ids)).toBe(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: false })).toBe(c.decodedWithSpecial);
      expect(tok.decode(ids)).toBe(c.decoded);
    }
    expect(agree).toBe(expected.cases.length);
    for (const c of expected.chats) {
      expect(
        tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.addGenerationPrompt }),
      ).toBe(c.text);
    }
  });

  it("round-trips ASCII, accents, CJK and emoji through byte fallback", async () => {
    const tok = ggufTextTokenizer(await header(spmMeta()));
    for (const text of ROUND_TRIP) expect(tok.decode(tok.encode(text))).toBe(text);
    // A character outside the vocabulary goes through <0xNN> byte tokens.
    const ids = [...tok.encode("☃", { addSpecialTokens: false })];
    expect(ids.length).toBeGreaterThanOrEqual(3);
  });

  it("add_space_prefix false: no leading ▁, no stripped space", async () => {
    const tok = ggufTextTokenizer(
      await header(spmMeta([["tokenizer.ggml.add_space_prefix", gv.bool(false)]])),
    );
    const withPrefix = ggufTextTokenizer(await header(spmMeta()));
    expect([...tok.encode("Hello", { addSpecialTokens: false })]).not.toEqual([
      ...withPrefix.encode("Hello", { addSpecialTokens: false }),
    ]);
    for (const text of [" leading", ...ROUND_TRIP]) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it("add_bos_token false and add_eos_token true", async () => {
    const tok = ggufTextTokenizer(
      await header(
        spmMeta([
          ["tokenizer.ggml.add_bos_token", gv.bool(false)],
          ["tokenizer.ggml.add_eos_token", gv.bool(true)],
        ]),
      ),
    );
    const ids = [...tok.encode("a b")];
    expect(ids[0]).not.toBe(1);
    expect(ids.at(-1)).toBe(2);
  });
});

describe("GGUF tokenizer metadata", () => {
  it("stop ids are eos, eot and eom", async () => {
    const h = await header([
      ["tokenizer.ggml.eos_token_id", gv.u32(5)],
      ["tokenizer.ggml.eot_token_id", gv.u32(7)],
      ["tokenizer.ggml.eom_token_id", gv.u32(5)],
    ]);
    expect(ggufEosTokenIds(h)).toEqual([5, 7]);
    expect(ggufEosTokenIds(await header([]))).toEqual([]);
  });

  it("refuses other models, missing pieces and bad ids with ERR_TOKENIZER", async () => {
    const bert = await header([
      ["tokenizer.ggml.model", gv.str("bert")],
      ["tokenizer.ggml.tokens", gv.arr("string", ["a"])],
    ]);
    expect(() => ggufTextTokenizer(bert)).toThrow(/ERR_TOKENIZER.*"bert"/);
    await expect(loadGgufTokenizer(await header([]))).rejects.toThrow(/ERR_TOKENIZER.*model/);
    const noMerges = bytelevelMeta(undefined).filter(([k]) => k !== "tokenizer.ggml.merges");
    await expect(loadGgufTokenizer(await header(noMerges))).rejects.toThrow(
      /ERR_TOKENIZER.*merges/,
    );
    const badId = [...spmMeta().filter(([k]) => k !== "tokenizer.ggml.eos_token_id")];
    badId.push(["tokenizer.ggml.eos_token_id", gv.u32(100000)]);
    await expect(loadGgufTokenizer(await header(badId))).rejects.toThrow(/ERR_TOKENIZER.*eos/);
    const noScores = spmMeta().filter(([k]) => k !== "tokenizer.ggml.scores");
    await expect(loadGgufTokenizer(await header(noScores))).rejects.toThrow(
      /ERR_TOKENIZER.*scores/,
    );
  });
});
