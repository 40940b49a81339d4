// openHead on the embedded pair with one local CPU worker: chat.completions.create returns an OpenAI
// ChatCompletion whose content is the generation's text (what `generate --chat --json` prints), streamed
// chunks concatenate to the same text with role first and a finish reason last, usage is counted,
// max_tokens gives "length", a stop string cuts the text, and unsupported or malformed requests are coded.

import { fileURLToPath } from "node:url";
import { kvCacheBytes } from "@pipemesh/engine";
import { createNodeShardClient } from "@pipemesh/engine/node";
import { LocalPipeline } from "@pipemesh/mesh";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openHead, type ChatCompletionChunk, type Head } from "../../src/index.ts";
import { nodePlatform } from "../../src/node/index.ts";

const MODELS = fileURLToPath(new URL("../../../../public/models/pipemesh-tiny/", import.meta.url));
const TARGET = `${MODELS}target`;
const MESSAGES = [{ role: "user" as const, content: "Once upon a time" }];

let head: Head;
beforeAll(async () => {
  head = await openHead({
    target: TARGET,
    draft: `${MODELS}draft`,
    drafterKind: "engine",
    platform: nodePlatform,
    contextLength: 256,
    pipeline: async (s) => {
      const shard = await createNodeShardClient(
        {
          model: TARGET,
          layerStart: 0,
          layerEnd: s.config.numLayers,
          embeds: true,
          tail: true,
          backend: "cpu",
          kvCells: s.kvCells,
          maxSeqs: s.maxSeqs,
        },
        { signal: s.signal },
      );
      return {
        pipeline: new LocalPipeline({ runners: [shard] }),
        plan: [
          {
            peerId: "local-0",
            layerStart: 0,
            layerEnd: s.config.numLayers,
            weightBytes: shard.info.weightBytes,
            kvBytes: kvCacheBytes(s.config, s.config.numLayers, s.kvCells),
          },
        ],
        destroy: () => shard.destroy(),
      };
    },
  });
}, 60_000);
afterAll(() => head?.destroy());

describe("head.chat.completions.create", () => {
  it("non-streaming and streaming give the generation's text, usage and finish reason", async () => {
    const g = head.generate({
      newTokens: Array.from(head.tokenizer!.encodeChat(MESSAGES, { addGenerationPrompt: true })),
      maxTokens: 12,
      sampling: { temperature: 0 },
      stopTokenIds: head.stopTokenIds,
    });
    const expected = await g.result;

    const c = await head.chat.completions.create({
      messages: MESSAGES,
      max_tokens: 12,
      temperature: 0,
    });
    expect(c.object).toBe("chat.completion");
    expect(c.choices[0]?.message.content).toBe(expected.text);
    expect(c.choices[0]?.finish_reason).toBe(
      expected.finishReason === "length" ? "length" : "stop",
    );
    expect(c.usage.completion_tokens).toBe(expected.tokens.length);
    expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);

    const chunks: ChatCompletionChunk[] = [];
    const stream = await head.chat.completions.create({
      messages: MESSAGES,
      max_completion_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const ch of stream) chunks.push(ch);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(new Set(chunks.map((ch) => ch.id)).size).toBe(1);
    const text = chunks.map((ch) => ch.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(expected.text);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe(c.choices[0]?.finish_reason);
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toEqual(c.usage);
  }, 60_000);

  it("honours stop strings and max_tokens", async () => {
    const full = await head.chat.completions.create({
      messages: MESSAGES,
      max_tokens: 16,
      temperature: 0,
    });
    const content = full.choices[0]!.message.content;
    expect(full.choices[0]?.finish_reason).toBe("length");
    const cut = content.slice(4, 7);
    const stopped = await head.chat.completions.create({
      messages: MESSAGES,
      max_tokens: 16,
      temperature: 0,
      stop: [cut],
    });
    expect(stopped.choices[0]?.message.content).toBe(content.slice(0, content.indexOf(cut)));
    expect(stopped.choices[0]?.finish_reason).toBe("stop");
  }, 60_000);

  it("switches the decoding mode between generations, with the same greedy text", async () => {
    const ask = async () => {
      const g = head.generate({
        newTokens: Array.from(head.tokenizer!.encode("The whale")),
        maxTokens: 8,
        sampling: { temperature: 0 },
      });
      return g.result;
    };
    await head.setMode("plain");
    const plain = await ask();
    await head.setMode("pipeinfer");
    const spec = await ask();
    expect(plain.mode).toBe("plain");
    expect(spec.mode).toBe("pipeinfer");
    expect(spec.tokens).toEqual(plain.tokens);
  }, 60_000);

  it("rejects unsupported and malformed requests with coded errors naming the field", async () => {
    await expect(head.chat.completions.create({ messages: MESSAGES, n: 3 })).rejects.toMatchObject({
      code: "ERR_UNSUPPORTED",
      param: "n",
    });
    await expect(
      head.chat.completions.create({ messages: MESSAGES, temperature: "hot" as unknown as number }),
    ).rejects.toMatchObject({ code: "ERR_BAD_REQUEST", param: "temperature" });
    await expect(head.chat.completions.create({ messages: [] })).rejects.toMatchObject({
      code: "ERR_BAD_REQUEST",
      param: "messages",
    });
  });
});
