// Conversation: the first turn encodes exactly what `pipemesh generate --chat` encodes; a follow-up keeps
// the token history as is and adds only the template's new text when the history's text is a prefix of the
// re-rendered conversation, and falls back to re-encoding everything when it is not. Real tokenizer
// (the engine's llama-chat-f32 fixture: ChatML, <|im_end|> ends a turn).

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer, type TextTokenizer } from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import { beforeAll, describe, expect, it } from "vitest";
import { Conversation } from "../../src/chat/conversation.ts";

const FIXTURE = fileURLToPath(
  new URL("../../../../packages/engine/test/fixtures/models/llama-chat-f32", import.meta.url),
);

let tok: TextTokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(openModelDir(join(FIXTURE)));
});

const ids = (text: string): number[] => Array.from(tok.encode(text, { addSpecialTokens: false }));

describe("Conversation", () => {
  it("encodes the first turn like encodeChat with the generation prompt", () => {
    const c = new Conversation(tok);
    const turn = c.nextTurn("Hello there");
    expect(turn.previousTokens).toEqual([]);
    expect(turn.newTokens).toEqual(
      Array.from(
        tok.encodeChat([{ role: "user", content: "Hello there" }], { addGenerationPrompt: true }),
      ),
    );
  });

  it("continues the exact token history with only the new text after a stop token", () => {
    const c = new Conversation(tok);
    const first = c.nextTurn("Hello there");
    const reply = ids("General Kenobi");
    const eos = tok.eosTokenId!;
    c.commit("Hello there", first, reply, eos);
    expect(c.tokens).toEqual([...first.newTokens, ...reply, eos]);
    const second = c.nextTurn("How are you?");
    expect(second.previousTokens).toEqual(c.tokens);
    const rendered = tok.applyChatTemplate(
      [
        { role: "user", content: "Hello there" },
        { role: "assistant", content: "General Kenobi" },
        { role: "user", content: "How are you?" },
      ],
      { addGenerationPrompt: true },
    );
    const all = [...second.previousTokens, ...second.newTokens];
    expect(tok.decode(all, { skipSpecialTokens: false })).toBe(rendered);
    expect(second.newTokens.length).toBeLessThan(ids(rendered).length / 2);
  });

  it("continues a reply cut by max tokens (no stop token) the same way", () => {
    const c = new Conversation(tok);
    const first = c.nextTurn("Count");
    c.commit("Count", first, ids("one two"), undefined);
    const second = c.nextTurn("Go on");
    expect(second.previousTokens.length).toBeGreaterThan(0);
    expect(
      tok.decode([...second.previousTokens, ...second.newTokens], { skipSpecialTokens: false }),
    ).toBe(
      tok.applyChatTemplate(
        [
          { role: "user", content: "Count" },
          { role: "assistant", content: "one two" },
          { role: "user", content: "Go on" },
        ],
        { addGenerationPrompt: true },
      ),
    );
  });

  it("re-encodes the whole conversation when the history's text is not a prefix of the template", () => {
    const c = new Conversation(tok);
    const first = c.nextTurn("Hi");
    const pad = tok.tokenToId("<|endoftext|>")!; // ends the reply, but the template never writes it
    c.commit("Hi", first, ids("Yo"), pad);
    const second = c.nextTurn("Again");
    expect(second.previousTokens).toEqual([]);
    expect(second.newTokens).toEqual(
      Array.from(
        tok.encodeChat(
          [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Yo" },
            { role: "user", content: "Again" },
          ],
          { addGenerationPrompt: true },
        ),
      ),
    );
  });

  it("reset() forgets messages and tokens", () => {
    const c = new Conversation(tok);
    const t = c.nextTurn("Hi");
    c.commit("Hi", t, ids("Yo"), undefined);
    c.reset();
    expect(c.messages).toEqual([]);
    expect(c.tokens).toEqual([]);
    expect(c.nextTurn("Hi").previousTokens).toEqual([]);
  });
});
