// The state one generation shares between its units: the token sequence, the canonical KV frontier, the
// in-flight run table (launch order) and how it ended. A plain record with the derived bounds; it decides
// nothing and talks to no port (the launcher, verifier, KV ledger and metrics each update their part).

import type { RunRecord } from "./runs.ts";

export type FinishReason = "length" | "stop" | "abort";

/** Accepted tokens, as streamed to the caller. */
export interface TokenEvent {
  /** Newly accepted tokens in order (a stop token id is not included). */
  tokens: number[];
  /** Per token: a drafted token the target accepted (for marking in a UI). */
  fromDraft: boolean[];
  /** Index of tokens[0] among this generation's tokens. */
  index: number;
  /** Clock time of the acceptance. */
  timeMs: number;
  /** Newly released text (present when the scheduler has a decode port). */
  text?: string | undefined;
}

export class GenerationState {
  /** Every token of the sequence: context, then generated (a trailing stop token id included). */
  readonly tokens: number[];
  readonly promptLength: number;
  /** Positions [0, canonicalEnd) have canonical KV written or issued. */
  canonicalEnd: number;
  finish: FinishReason | null = null;
  /** Per generated token: a drafted token the target accepted. */
  readonly fromDraft: boolean[] = [];
  /** Runs in flight, in launch order (outcomes come back in this order). */
  readonly runs: RunRecord[] = [];
  /** Temperature 0: acceptance by argmax, top-1 outputs only. */
  readonly greedy: boolean;
  /** The last position a token may take (generation budget, context size). */
  readonly maxPos: number;

  constructor(o: {
    context: readonly number[];
    prefillFrom: number;
    maxTokens: number;
    maxContextTokens: number;
    greedy: boolean;
  }) {
    this.tokens = [...o.context];
    this.promptLength = this.tokens.length;
    this.canonicalEnd = o.prefillFrom;
    this.greedy = o.greedy;
    this.maxPos = Math.min(this.promptLength + o.maxTokens - 1, o.maxContextTokens - 1);
  }
}
