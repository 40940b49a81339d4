// Generation metrics: what each generation reports in its JSON `metrics`, with the exact definitions
// (TSDoc on GenerationMetrics). MetricsRecorder collects the raw events; computeMetrics derives the numbers.

import type { DecodeMode } from "./config.ts";
import type { GovernorArm } from "./governor.ts";

/** Generated tokens [fromToken, toToken) came from runs launched under `arm`. */
export interface ArmSpan {
  arm: GovernorArm;
  fromToken: number;
  toToken: number;
}

export interface GenerationMetrics {
  mode: DecodeMode;
  /** Context tokens given (previous + new). */
  promptTokens: number;
  /** Leading context tokens whose KV the stages already held (not prefilled again). */
  reusedTokens: number;
  /** Tokens returned to the caller (a stop token id is not counted; stop-string text is truncated). */
  generatedTokens: number;
  /** Request start (generate() call) to the acceptance of the first generated token, prefill included. */
  ttftMs: number;
  /**
   * Decode rate: (generatedTokens - 1) / (time of last token - time of first token). Prefill and TTFT are
   * excluded so modes compare on decoding alone. When every token came in one acceptance (no span), it is
   * generatedTokens / (last token time - request start). 0 without tokens.
   */
  tokensPerSecond: number;
  /**
   * Inter-token latency: the gaps between consecutive generated tokens' acceptance times. Tokens accepted
   * together (one verification) get 0 gaps, as in the reference. Nearest-rank percentiles; 0 with < 2 tokens.
   */
  itlP50Ms: number;
  itlP95Ms: number;
  itlMeanMs: number;
  /**
   * Accepted draft tokens / draft tokens in speculative runs that were verified (their outcome was used),
   * cancelled and stale runs excluded. A draft token counts as accepted when it ends up in the generated
   * sequence at its position, whichever run's output verified it. 0 when nothing was verified.
   */
  acceptanceRate: number;
  draftTokensVerified: number;
  draftTokensAccepted: number;
  /** Every run launched: prefill chunks, canonical runs and speculative micro-batches. */
  runsLaunched: number;
  speculativeRunsLaunched: number;
  /** Speculative runs that were correction forks (speculateCorrections; 0 otherwise). */
  correctionForksLaunched: number;
  /** Speculative runs cancelled over the network (invalid, behind the frontier, or left at the end). */
  runsCancelled: number;
  /** Sum of RunOutcome.stageComputeMs over the outcomes received during the generation. */
  stageComputeMs: number;
  /**
   * Stage compute spent on runs whose outputs were discarded (cancelled or stale speculative runs, and
   * verified ones that yielded no token) / stageComputeMs. Canonical and prefill runs always count as used
   * (they write canonical KV even when a speculative run already delivered their token).
   */
  discardedComputeFraction: number;
  /** generatedTokens / acceptance events (processed outcomes that appended at least one token). */
  meanAcceptedPerRoundTrip: number;
  acceptanceEvents: number;
  /** Request start to the last generated token. */
  elapsedMs: number;
  /**
   * Which way of speculating produced each span of generated tokens (indices into `tokens`, maximal
   * spans in order, covering all of them): the arm in force when the run that delivered a token was
   * launched ("async" = PipeInfer's micro-batches, "sync" = a drafted tree with the canonical run, "plain").
   * Pipeinfer's governor switches arms; otherwise there is one span (plain: "plain", speculative: "sync",
   * pipeinfer without the governor: "async").
   */
  arms: ArmSpan[];
  /** Pipelines that failed during the generation and were replaced (see recovery in README.md). */
  recoveries: RecoveryRecord[];
}

/** One recovery: what failed, after how many generated tokens, and how long until the replay was launched. */
export interface RecoveryRecord {
  /** The failure's code (ERR_PEER_LOST, ERR_NONFINITE, ...). */
  code: string;
  /** The peer the failure named, when it named one. */
  peerId?: string | undefined;
  /** Generated tokens accepted before the failure (they are kept). */
  atToken: number;
  /** From the failure to the replacement pipeline taking the replay (re-plan, loads, connections). */
  replaceMs: number;
  /** Context tokens replayed into the new pipeline to rebuild its KV. */
  replayedTokens: number;
  /** From the failure to the first token accepted after it (replay included); null if none came. */
  recoveredMs: number | null;
}

export class MetricsRecorder {
  readonly mode: DecodeMode;
  readonly startMs: number;
  promptTokens = 0;
  reusedTokens = 0;
  tokenTimesMs: number[] = [];
  /** Per kept token: the arm its run was launched under. */
  tokenArms: GovernorArm[] = [];
  draftTokensVerified = 0;
  draftTokensAccepted = 0;
  runsLaunched = 0;
  speculativeRunsLaunched = 0;
  correctionForksLaunched = 0;
  runsCancelled = 0;
  stageComputeMs = 0;
  discardedComputeMs = 0;
  acceptanceEvents = 0;
  readonly recoveries: RecoveryRecord[] = [];
  /** Failure times of recoveries still waiting for their first token. */
  readonly #recoveringSinceMs: number[] = [];

  constructor(mode: DecodeMode, startMs: number) {
    this.mode = mode;
    this.startMs = startMs;
  }

  /** A pipeline failed at `failedMs` and a replacement took the replay (the record is completed later). */
  onRecovered(record: Omit<RecoveryRecord, "recoveredMs">, failedMs: number): void {
    this.recoveries.push({ ...record, recoveredMs: null });
    this.#recoveringSinceMs.push(failedMs);
  }

  /** A token was accepted at `nowMs`: completes the recoveries waiting for one. */
  onTokenTime(nowMs: number): void {
    this.tokenTimesMs.push(nowMs);
    if (this.#recoveringSinceMs.length === 0) return;
    const open = this.recoveries.slice(-this.#recoveringSinceMs.length);
    open.forEach((r, i) => (r.recoveredMs = nowMs - (this.#recoveringSinceMs[i] ?? nowMs)));
    this.#recoveringSinceMs.length = 0;
  }

  onOutcome(stageComputeMs: number, discarded: boolean): void {
    this.stageComputeMs += stageComputeMs;
    if (discarded) this.discardedComputeMs += stageComputeMs;
  }

  compute(generatedTokens: number): GenerationMetrics {
    const times = this.tokenTimesMs.slice(0, generatedTokens);
    const first = times[0];
    const last = times[times.length - 1];
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? t));
    let tokensPerSecond = 0;
    if (first !== undefined && last !== undefined) {
      if (last > first) tokensPerSecond = ((times.length - 1) * 1000) / (last - first);
      else if (last > this.startMs) tokensPerSecond = (times.length * 1000) / (last - this.startMs);
    }
    return {
      mode: this.mode,
      promptTokens: this.promptTokens,
      reusedTokens: this.reusedTokens,
      generatedTokens: times.length,
      ttftMs: first === undefined ? 0 : first - this.startMs,
      tokensPerSecond,
      itlP50Ms: percentile(gaps, 0.5),
      itlP95Ms: percentile(gaps, 0.95),
      itlMeanMs: gaps.length === 0 ? 0 : gaps.reduce((a, b) => a + b, 0) / gaps.length,
      acceptanceRate:
        this.draftTokensVerified === 0 ? 0 : this.draftTokensAccepted / this.draftTokensVerified,
      draftTokensVerified: this.draftTokensVerified,
      draftTokensAccepted: this.draftTokensAccepted,
      runsLaunched: this.runsLaunched,
      speculativeRunsLaunched: this.speculativeRunsLaunched,
      correctionForksLaunched: this.correctionForksLaunched,
      runsCancelled: this.runsCancelled,
      stageComputeMs: this.stageComputeMs,
      discardedComputeFraction:
        this.stageComputeMs === 0 ? 0 : this.discardedComputeMs / this.stageComputeMs,
      meanAcceptedPerRoundTrip:
        this.acceptanceEvents === 0 ? 0 : times.length / this.acceptanceEvents,
      acceptanceEvents: this.acceptanceEvents,
      elapsedMs: last === undefined ? 0 : last - this.startMs,
      arms: armSpans(this.tokenArms.slice(0, times.length)),
      recoveries: this.recoveries.map((r) => ({ ...r })),
    };
  }
}

/** Maximal runs of equal arms as [fromToken, toToken) spans. */
export function armSpans(arms: readonly GovernorArm[]): ArmSpan[] {
  const spans: ArmSpan[] = [];
  arms.forEach((arm, i) => {
    const last = spans[spans.length - 1];
    if (last?.arm === arm) last.toToken = i + 1;
    else spans.push({ arm, fromToken: i, toToken: i + 1 });
  });
  return spans;
}

/** Nearest-rank percentile (q in (0, 1]); 0 for an empty list. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] ?? 0;
}
