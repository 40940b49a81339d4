// completions.create on a head (OpenAI's legacy text completions): the prompt is tokenized as plain text
// (with the tokenizer's special tokens, as `generate --prompt` does) and continued; a Completion object,
// or with stream: true an async iterable of Completion chunks. One prompt per request.

import { HeadError } from "../errors.ts";
import type { Head } from "../open-head.ts";
import { requestId, startRun } from "./run.ts";
import type { Completion, CompletionCreateParams } from "./types.ts";
import { checkObject, checkSampling, checkUnsupported } from "./validate.ts";

export interface TextCompletions {
  create(params: CompletionCreateParams & { stream: true }): Promise<AsyncIterable<Completion>>;
  create(params: CompletionCreateParams & { stream?: false | null }): Promise<Completion>;
  create(params: CompletionCreateParams): Promise<Completion | AsyncIterable<Completion>>;
}

/** OpenAI's default for this endpoint. */
const DEFAULT_MAX_TOKENS = 16;

function promptText(body: Record<string, unknown>): string {
  const p = body["prompt"];
  if (typeof p === "string") return p;
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") return p[0];
  if (Array.isArray(p))
    throw new HeadError("ERR_UNSUPPORTED", "one prompt string per request is supported", "prompt");
  throw new HeadError("ERR_BAD_REQUEST", "prompt must be a string", "prompt");
}

export function textCompletions(head: () => Head): TextCompletions {
  const create = async (
    params: CompletionCreateParams,
  ): Promise<Completion | AsyncIterable<Completion>> => {
    const body = checkObject(params);
    checkUnsupported(body);
    if (body["echo"] === true)
      throw new HeadError("ERR_UNSUPPORTED", "echo is not supported", "echo");
    const text = promptText(body);
    const s = checkSampling(body, ["max_tokens"]);
    const h = head();
    if (h.tokenizer === undefined)
      throw new HeadError("ERR_NO_TOKENIZER", "the model has no tokenizer", "prompt");
    const prompt = Array.from(h.tokenizer.encode(text));
    const id = requestId("cmpl");
    const created = Math.floor(Date.now() / 1000);
    const model = typeof params.model === "string" ? params.model : "";
    const run = startRun(
      h,
      prompt,
      { ...s, maxTokens: s.maxTokens ?? DEFAULT_MAX_TOKENS },
      params.signal,
    );
    const completion = (
      t: string,
      finish: Completion["choices"][number]["finish_reason"],
    ): Completion => ({
      id,
      object: "text_completion",
      created,
      model,
      choices: [{ index: 0, text: t, logprobs: null, finish_reason: finish }],
    });
    if (!s.stream) {
      for await (const _ of run.deltas);
      const out = await run.outcome;
      return { ...completion(out.text, out.finishReason), usage: out.usage };
    }
    return (async function* (): AsyncGenerator<Completion> {
      for await (const t of run.deltas) yield completion(t, null);
      const out = await run.outcome;
      yield completion("", out.finishReason);
      if (s.includeUsage) yield { ...completion("", null), choices: [], usage: out.usage };
    })();
  };
  return { create } as TextCompletions;
}
