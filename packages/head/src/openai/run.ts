// One OpenAI-style request on a head: queues the generation, and yields text deltas as the scheduler
// releases them (never half a UTF-8 character, nothing past a stop string), then the outcome with OpenAI's
// finish reason and token usage. Breaking out of the iteration cancels the generation. Formatting into
// ChatCompletion / Completion objects is the callers'.

import { MeshError, type GenerationResult } from "@pipemesh/mesh";
import type { Head } from "../open-head.ts";
import type { NormalisedSampling } from "./validate.ts";
import type { CompletionUsage, FinishReasonOpenAI } from "./types.ts";

export interface RunOutcome {
  text: string;
  finishReason: FinishReasonOpenAI;
  usage: CompletionUsage;
  result: GenerationResult;
}

export interface RunningRequest {
  deltas: AsyncIterable<string>;
  outcome: Promise<RunOutcome>;
}

let serial = 0;

/** An id like OpenAI's: prefix, time and a counter. */
export function requestId(prefix: string): string {
  serial = (serial + 1) % 1e9;
  return `${prefix}-${Date.now().toString(36)}${serial.toString(36)}`;
}

export function startRun(
  head: Head,
  prompt: number[],
  s: NormalisedSampling,
  signal: AbortSignal | undefined,
): RunningRequest {
  const cancel = new AbortController();
  const sig = signal === undefined ? cancel.signal : AbortSignal.any([signal, cancel.signal]);
  const room = Math.max(1, head.maxContextTokens - prompt.length);
  const generation = head.generate({
    newTokens: prompt,
    maxTokens: Math.min(s.maxTokens ?? room, room),
    sampling: {
      temperature: s.temperature,
      topP: s.topP,
      ...(s.seed === undefined ? {} : { seed: s.seed >>> 0 }),
    },
    stopTokenIds: head.stopTokenIds,
    stop: s.stop,
    signal: sig,
  });
  const outcome = generation.result.then((result): RunOutcome => {
    if (result.finishReason === "abort")
      throw new MeshError("ERR_ABORTED", "the request was cancelled");
    return {
      text: result.text ?? "",
      finishReason: result.finishReason === "length" ? "length" : "stop",
      usage: {
        prompt_tokens: prompt.length,
        completion_tokens: result.tokens.length,
        total_tokens: prompt.length + result.tokens.length,
      },
      result,
    };
  });
  outcome.catch(() => {});
  async function* deltas(): AsyncGenerator<string> {
    let finished = false;
    try {
      for await (const ev of generation) if (ev.text !== undefined && ev.text !== "") yield ev.text;
      finished = true;
    } finally {
      if (!finished) cancel.abort();
    }
  }
  return { deltas: deltas(), outcome };
}
