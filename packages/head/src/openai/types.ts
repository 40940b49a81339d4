// The OpenAI Chat Completions and Completions shapes the head takes and returns (the subset it
// supports), declared here so the head needs no OpenAI package. Field names are OpenAI's.

export interface ChatMessageParam {
  role: "system" | "developer" | "user" | "assistant" | "tool" | "function";
  content: string | { type: string; text?: string }[] | null;
  name?: string;
}

/** Sampling and stopping parameters shared by both endpoints. */
export interface SamplingParams {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean; include_obfuscation?: boolean } | null;
  n?: number | null;
  model?: string;
  /** Cancels the request (not an OpenAI field). */
  signal?: AbortSignal;
}

export interface ChatCompletionCreateParams extends SamplingParams {
  messages: ChatMessageParam[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  tools?: unknown[] | null;
}

export interface CompletionCreateParams extends SamplingParams {
  prompt: string | string[];
  logprobs?: number | null;
  echo?: boolean | null;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReasonOpenAI = "stop" | "length";

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: "assistant"; content: string; refusal: null };
    logprobs: null;
    finish_reason: FinishReasonOpenAI;
  }[];
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string };
    logprobs: null;
    finish_reason: FinishReasonOpenAI | null;
  }[];
  usage?: CompletionUsage | null;
}

export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: {
    index: number;
    text: string;
    logprobs: null;
    finish_reason: FinishReasonOpenAI | null;
  }[];
  usage?: CompletionUsage | null;
}
