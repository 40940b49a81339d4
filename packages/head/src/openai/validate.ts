// Checks an OpenAI request body field by field: wrong types and out-of-range values are ERR_BAD_REQUEST,
// parameters the head does not implement (n > 1, logprobs, tools) ERR_UNSUPPORTED, each naming the
// field. Unknown fields are ignored, as OpenAI-compatible servers should. Returns normalised settings.

import { HeadError } from "../errors.ts";
import type { ChatMessageParam, SamplingParams } from "./types.ts";

export interface NormalisedSampling {
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

function bad(param: string, message: string): HeadError {
  return new HeadError("ERR_BAD_REQUEST", message, param);
}

function optNumber(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  integer = false,
): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw bad(key, `${key} must be ${integer ? "an integer" : "a number"}`);
  if (v < min || v > max) throw bad(key, `${key} must be between ${min} and ${max}`);
  return v;
}

export function checkObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw bad("body", "the request body must be a JSON object");
  return body as Record<string, unknown>;
}

export function checkSampling(
  body: Record<string, unknown>,
  maxTokenKeys: readonly string[],
): NormalisedSampling {
  const n = optNumber(body, "n", 1, 128, true);
  if (n !== undefined && n > 1)
    throw new HeadError("ERR_UNSUPPORTED", "only n = 1 is supported", "n");
  let maxTokens: number | undefined;
  for (const k of maxTokenKeys) maxTokens ??= optNumber(body, k, 1, 1 << 30, true);
  const stopRaw = body["stop"];
  let stop: string[] = [];
  if (typeof stopRaw === "string") stop = [stopRaw];
  else if (Array.isArray(stopRaw)) {
    if (stopRaw.length > 4 || !stopRaw.every((s) => typeof s === "string"))
      throw bad("stop", "stop must be a string or an array of at most 4 strings");
    stop = stopRaw;
  } else if (stopRaw !== undefined && stopRaw !== null)
    throw bad("stop", "stop must be a string or an array of strings");
  const stream = body["stream"];
  if (stream !== undefined && stream !== null && typeof stream !== "boolean")
    throw bad("stream", "stream must be a boolean");
  const so = body["stream_options"];
  if (so !== undefined && so !== null && (typeof so !== "object" || Array.isArray(so)))
    throw bad("stream_options", "stream_options must be an object");
  const includeUsage = (so as { include_usage?: unknown } | null | undefined)?.include_usage;
  if (includeUsage !== undefined && typeof includeUsage !== "boolean")
    throw bad("stream_options.include_usage", "include_usage must be a boolean");
  return {
    maxTokens,
    temperature: optNumber(body, "temperature", 0, 2) ?? 1,
    topP: optNumber(body, "top_p", 0, 1) ?? 1,
    seed: optNumber(body, "seed", -(2 ** 53), 2 ** 53, true),
    stop,
    stream: stream === true,
    includeUsage: stream === true && includeUsage === true,
  };
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

/** Messages as the chat template takes them: text parts joined, `developer` as `system`. */
export function checkMessages(body: Record<string, unknown>): { role: string; content: string }[] {
  const raw = body["messages"];
  if (!Array.isArray(raw) || raw.length === 0)
    throw bad("messages", "messages must be a non-empty array");
  return raw.map((m: unknown, i) => {
    const param = `messages[${i}]`;
    if (m === null || typeof m !== "object") throw bad(param, `${param} must be an object`);
    const { role, content } = m as Partial<ChatMessageParam>;
    if (typeof role !== "string" || !ROLES.has(role))
      throw bad(`${param}.role`, `${param}.role must be one of ${[...ROLES].join(", ")}`);
    let text: string;
    if (typeof content === "string") text = content;
    else if (content === null || content === undefined) text = "";
    else if (Array.isArray(content)) {
      text = content
        .map((p, j) => {
          if (p?.type !== "text" || typeof p.text !== "string")
            throw new HeadError(
              "ERR_UNSUPPORTED",
              "only text content parts are supported",
              `${param}.content[${j}]`,
            );
          return p.text;
        })
        .join("");
    } else throw bad(`${param}.content`, `${param}.content must be a string or an array of parts`);
    return { role: role === "developer" ? "system" : role, content: text };
  });
}

/** Parameters the head does not implement, when present and not their neutral value. */
export function checkUnsupported(body: Record<string, unknown>): void {
  const lp = body["logprobs"];
  if (lp !== undefined && lp !== null && lp !== false && lp !== 0)
    throw new HeadError("ERR_UNSUPPORTED", "logprobs are not supported", "logprobs");
  const tools = body["tools"];
  if (Array.isArray(tools) && tools.length > 0)
    throw new HeadError("ERR_UNSUPPORTED", "tools are not supported", "tools");
  const fns = body["functions"];
  if (Array.isArray(fns) && fns.length > 0)
    throw new HeadError("ERR_UNSUPPORTED", "functions are not supported", "functions");
}

export type { SamplingParams };
