// Tokenizers against Python: ids and decodings recorded by scripts/ref/make-fixtures.py with Python
// `tokenizers`, chat renderings recorded with transformers' apply_chat_template, for a byte-level BPE and a
// SentencePiece-style (Metaspace, byte fallback) BPE. Plus the streaming decoder's guarantees.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { ChatTemplate } from "../../src/tokenizer/chat-template.ts";
import { StreamDecoder } from "../../src/tokenizer/stream-decoder.ts";
import { loadTokenizer, TextTokenizer } from "../../src/tokenizer/text-tokenizer.ts";
import { FileModelDir } from "../../src/node/file-source.ts";
import {
  loadTokenizerCases,
  modelFixtureDir,
  TOKENIZER_FIXTURES,
  tokenizerFixtureDir,
} from "../fixtures/fixtures.ts";

describe.each(TOKENIZER_FIXTURES)("tokenizer %s against Python", (name) => {
  const expected = loadTokenizerCases(name);
  const load = () => loadTokenizer(new FileModelDir(tokenizerFixtureDir(name)));

  it("has Python's vocabulary size", async () => {
    expect((await load()).vocabSize).toBe(expected.vocabSize);
  });

  it.each(expected.cases.map((c) => [JSON.stringify(c.text), c] as const))(
    "text %s -> ids -> text",
    async (_label, c) => {
      const tok = await load();
      expect([...tok.encode(c.text)]).toEqual(c.ids);
      expect([...tok.encode(c.text, { addSpecialTokens: false })]).toEqual(c.idsNoSpecial);
      expect(tok.decode(c.ids)).toBe(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: false })).toBe(c.decodedWithSpecial);
    },
  );

  it("renders every chat exactly as transformers does, and encodes it to the same ids", async () => {
    const tok = await load();
    expect(expected.chats.length).toBeGreaterThan(0);
    for (const chat of expected.chats) {
      const options = { addGenerationPrompt: chat.addGenerationPrompt };
      expect(tok.applyChatTemplate(chat.messages, options)).toBe(chat.text);
      expect([...tok.encodeChat(chat.messages, options)]).toEqual(chat.ids);
    }
  });

  it("streams every case without partial characters and prefix-consistently", async () => {
    const tok = await load();
    for (const c of expected.cases) {
      const ids = c.idsNoSpecial;
      const stream = new StreamDecoder(tok);
      const seen: string[] = [];
      for (const id of ids) {
        const chunk = stream.push(id);
        if (!c.text.includes("\uFFFD")) expect(chunk).not.toContain("\uFFFD");
        seen.push(stream.text);
      }
      stream.flush();
      const full = tok.decode(ids);
      expect(stream.text).toBe(full);
      for (const prefix of seen) expect(full.startsWith(prefix)).toBe(true);
    }
  });
});

describe("tokenizer details", () => {
  it("holds back the bytes of a character split across byte-fallback tokens", async () => {
    const tok = await loadTokenizer(new FileModelDir(tokenizerFixtureDir("sentencepiece-bpe")));
    const ids = tok.encode("☃", { addSpecialTokens: false });
    // ☃ is unseen in training: its 3 UTF-8 bytes become the byte tokens <0xE2> <0x98> <0x83>.
    const byteIds = ["<0xE2>", "<0x98>", "<0x83>"].map((t) => tok.tokenToId(t));
    expect([...ids].slice(-3)).toEqual(byteIds);
    const stream = new StreamDecoder(tok);
    const chunks = [...ids].map((id) => stream.push(id));
    expect(chunks.slice(0, -1).join("")).not.toContain("☃");
    expect(chunks.join("") + stream.flush()).toBe("☃");
  });

  it("keeps the space of the first generated token when given the prompt as context", async () => {
    const tok = await loadTokenizer(new FileModelDir(tokenizerFixtureDir("sentencepiece-bpe")));
    const all = tok.encode("Hello world", { addSpecialTokens: false });
    const prompt = tok.encode("Hello", { addSpecialTokens: false });
    const generated = [...all].slice(prompt.length);
    const stream = new StreamDecoder(tok, { contextIds: prompt });
    for (const id of generated) stream.push(id);
    stream.flush();
    expect(tok.decode(prompt) + stream.text).toBe("Hello world");
  });

  it("reads bos/eos tokens from tokenizer_config.json", async () => {
    const tok = await loadTokenizer(new FileModelDir(modelFixtureDir("llama-sp-f16")));
    expect(tok.bosToken).toBe("<s>");
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    const chat = await loadTokenizer(new FileModelDir(modelFixtureDir("llama-chat-f32")));
    expect(chat.eosToken).toBe("<|im_end|>");
    expect(chat.eosTokenId).toBe(chat.tokenToId("<|im_end|>"));
  });

  it("rejects unusable tokenizer files with ERR_TOKENIZER", async () => {
    expect(() => new TextTokenizer(null)).toThrow(/ERR_TOKENIZER/);
    expect(() => new TextTokenizer({ model: { type: "NoSuchModel" } })).toThrow(/ERR_TOKENIZER/);
    await expect(loadTokenizer(new FileModelDir("/nonexistent-dir"))).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_TOKENIZER"),
    );
  });

  it("reports template problems with ERR_CHAT_TEMPLATE", async () => {
    expect(() => new ChatTemplate("{% for %}")).toThrow(/ERR_CHAT_TEMPLATE/);
    const raising = new ChatTemplate("{{ raise_exception('roles must alternate') }}");
    expect(() => raising.render([{ role: "user", content: "x" }])).toThrow(
      /ERR_CHAT_TEMPLATE.*roles must alternate/,
    );
    const tok = await loadTokenizer(new FileModelDir(tokenizerFixtureDir("sentencepiece-bpe")));
    // The Llama 2 template raises on two user turns in a row.
    expect(() =>
      tok.applyChatTemplate([
        { role: "user", content: "a" },
        { role: "user", content: "b" },
      ]),
    ).toThrow(/ERR_CHAT_TEMPLATE/);
    const json: unknown = JSON.parse(
      readFileSync(join(tokenizerFixtureDir("bytelevel-bpe"), "tokenizer.json"), "utf8"),
    );
    const bare = new TextTokenizer(json, {});
    expect(() => bare.applyChatTemplate([{ role: "user", content: "a" }])).toThrow(
      /ERR_CHAT_TEMPLATE.*no chat template/,
    );
  });
});
