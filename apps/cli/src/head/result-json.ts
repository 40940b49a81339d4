// The generation JSON the CLI prints as its last stdout line (and the benchmarks read):
// {tokens, text, backend, mode, drafter, peers, plan, seed, finishReason, metrics}.

import type { Head, PlanEntry } from "@pipemesh/head";
import type { GenerationResult } from "@pipemesh/mesh";

export type { PlanEntry };

export interface GenerationJson {
  tokens: number[];
  text: string | null;
  backend: string;
  mode: string;
  drafter: string | null;
  peers: number;
  plan: PlanEntry[];
  seed: number;
  finishReason: string;
  metrics: GenerationResult["metrics"];
}

/** `tokens` are the generated ids (prompt excluded), with the EOS token included when it ended the run. */
export function buildResultJson(
  head: Head,
  backend: string,
  result: GenerationResult,
): GenerationJson {
  const tokens = [...result.tokens];
  if (result.stopTokenId !== undefined) tokens.push(result.stopTokenId);
  return {
    tokens,
    text: result.text ?? (head.tokenizer === undefined ? null : head.tokenizer.decode(tokens)),
    backend,
    mode: result.mode,
    drafter: head.drafterName,
    peers: head.plan.length,
    plan: [...head.plan],
    seed: result.seed,
    finishReason: result.finishReason,
    metrics: result.metrics,
  };
}
