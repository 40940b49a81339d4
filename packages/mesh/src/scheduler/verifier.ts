// Verifying one useful run's outcome: acceptFromRun picks the accepted tokens from the target's outputs;
// this appends them to the sequence one by one through the stop matcher (stop token ids, stop strings)
// and the budgets, feeds calibration, and builds the caller's token event. It does not commit or free KV,
// launch anything or emit the event: it returns what was accepted for the coordinator to act on.

import type { StageRowOutput } from "../ports.ts";
import { acceptFromRun, truncateAcceptance, type Acceptance } from "./acceptance.ts";
import type { CalibrationTap } from "./calibration-tap.ts";
import type { GenerationState, TokenEvent } from "./generation-state.ts";
import type { LoopMetrics } from "./loop-metrics.ts";
import type { RunRecord } from "./runs.ts";
import type { ResolvedSampling } from "./sampling.ts";
import type { StopMatcher } from "./stop-matcher.ts";

export interface Verified {
  /** The tokens kept for the caller (a stop token id is not). */
  event: TokenEvent;
  /** Newly released text (with stop.finish()'s tail when the generation ended). */
  text: string;
  /** What was appended to the sequence (truncated where a stop or budget ended the generation). */
  acceptance: Acceptance;
  /** Position of the first appended token. */
  from: number;
}

export interface VerifierDeps {
  state: GenerationState;
  sampling: ResolvedSampling;
  stop: StopMatcher;
  maxTokens: number;
  maxContextTokens: number;
  metrics: LoopMetrics;
  calibration: CalibrationTap | null;
}

export class Verifier {
  readonly #d: VerifierDeps;

  constructor(deps: VerifierDeps) {
    this.#d = deps;
  }

  /** Verifies `run` from its row at the frontier (`anchor`); the run is no longer in state.runs. */
  verify(run: RunRecord, anchor: number, outputs: readonly StageRowOutput[]): Verified {
    const { state, stop, metrics, calibration } = this.#d;
    const tokens = state.tokens;
    const from = tokens.length;
    const event: TokenEvent = {
      tokens: [],
      fromDraft: [],
      index: stop.tokens.length,
      timeMs: metrics.now(),
    };
    let text = "";
    const walk = acceptFromRun(run, outputs, this.#d.sampling, {
      accepted: tokens,
      anchor,
      others: state.runs,
    });
    let taken = 0;
    for (const token of walk.tokens) {
      const fromDraft = walk.fromDraft[taken] ?? false;
      taken++;
      calibration?.observe(tokens, token);
      tokens.push(token);
      const step = stop.push(token);
      text += step.textDelta;
      if (step.keep) {
        event.tokens.push(token);
        event.fromDraft.push(fromDraft);
        state.fromDraft.push(fromDraft);
        metrics.onTokenKept();
      }
      if (step.stop) state.finish = "stop";
      else if (stop.tokens.length >= this.#d.maxTokens || tokens.length >= this.#d.maxContextTokens)
        state.finish = "length";
      if (state.finish !== null) break;
    }
    metrics.onVerified(run, tokens);
    if (state.finish !== null) text += stop.finish();
    return { event, text, acceptance: truncateAcceptance(walk, taken), from };
  }
}
