// The generation JSON the CLI prints as its last stdout line (and the benchmarks read):
// {tokens, text, backend, mode, drafter, peers, plan, seed, finishReason, metrics}.

import type { GenerationResult } from "@pipemesh/mesh";
import type { HeadSession } from "./head-session.ts";

export interface PlanEntry {
  peerId: string;
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
  /** Bytes of the weight buffers the stage holds on its device (no KV, activations or scratch). */
  weightBytes: number | null;
  /** Bytes of the stage's KV cache. */
  kvBytes: number | null;
}

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
export function buildResultJson(session: HeadSession, result: GenerationResult): GenerationJson {
  const tokens = [...result.tokens];
  if (result.stopTokenId !== undefined) tokens.push(result.stopTokenId);
  return {
    tokens,
    text:
      result.text ?? (session.tokenizer === undefined ? null : session.tokenizer.decode(tokens)),
    backend: session.backend,
    mode: result.mode,
    drafter: session.drafterName,
    peers: session.plan.length,
    plan: session.plan,
    seed: result.seed,
    finishReason: result.finishReason,
    metrics: result.metrics,
  };
}
