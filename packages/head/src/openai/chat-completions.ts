// chat.completions.create on a head: an OpenAI chat request goes through the model's chat template and
// one queued generation; the answer is a ChatCompletion, or with stream: true an async iterable of
// ChatCompletionChunk (role first, content deltas, a final chunk with the finish reason, then usage when
// stream_options.include_usage). message.content is exactly the generation's text.

import { HeadError } from "../errors.ts";
import type { Head } from "../open-head.ts";
import { requestId, startRun } from "./run.ts";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams } from "./types.ts";
import { checkMessages, checkObject, checkSampling, checkUnsupported } from "./validate.ts";

export interface ChatCompletions {
  create(
    params: ChatCompletionCreateParams & { stream: true },
  ): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(params: ChatCompletionCreateParams & { stream?: false | null }): Promise<ChatCompletion>;
  create(
    params: ChatCompletionCreateParams,
  ): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

/** The chat template applied to `messages`, with the assistant's turn opened. */
export function chatPromptTokens(
  head: Head,
  messages: { role: string; content: string }[],
): number[] {
  const tokenizer = head.tokenizer;
  if (tokenizer === undefined)
    throw new HeadError(
      "ERR_NO_TOKENIZER",
      "the model has no tokenizer; chat needs one",
      "messages",
    );
  return Array.from(tokenizer.encodeChat(messages, { addGenerationPrompt: true }));
}

export function chatCompletions(head: () => Head): ChatCompletions {
  const create = async (
    params: ChatCompletionCreateParams,
  ): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> => {
    const body = checkObject(params);
    checkUnsupported(body);
    const messages = checkMessages(body);
    const s = checkSampling(body, ["max_completion_tokens", "max_tokens"]);
    const h = head();
    const prompt = chatPromptTokens(h, messages);
    const id = requestId("chatcmpl");
    const created = Math.floor(Date.now() / 1000);
    const model = typeof params.model === "string" ? params.model : "";
    const run = startRun(h, prompt, s, params.signal);
    if (!s.stream) {
      for await (const _ of run.deltas); // drain: the text comes whole with the outcome
      const out = await run.outcome;
      return {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: out.text, refusal: null },
            logprobs: null,
            finish_reason: out.finishReason,
          },
        ],
        usage: out.usage,
      };
    }
    const chunk = (
      delta: ChatCompletionChunk["choices"][number]["delta"],
      finish: ChatCompletionChunk["choices"][number]["finish_reason"],
    ): ChatCompletionChunk => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(s.includeUsage ? { usage: null } : {}),
    });
    return (async function* (): AsyncGenerator<ChatCompletionChunk> {
      yield chunk({ role: "assistant", content: "" }, null);
      for await (const text of run.deltas) yield chunk({ content: text }, null);
      const out = await run.outcome;
      yield chunk({}, out.finishReason);
      if (s.includeUsage)
        yield {
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [],
          usage: out.usage,
        };
    })();
  };
  return { create } as ChatCompletions;
}
