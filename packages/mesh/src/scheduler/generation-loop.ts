// One generation's coordinator (plain, speculative and pipeinfer): prefill, then process outcomes in launch
// order; a useful run is verified, its accepted drafts committed and its partition freed, the canonical run
// for the last accepted token launched and the runs that became invalid cancelled; while no outcome is
// waiting (pipeinfer) it keeps launching chained micro-batches. The work itself lives in its units:
// run-launcher.ts (what to launch), verifier.ts + acceptance.ts (what is accepted), kv-ledger.ts (commit,
// free, cancel), loop-metrics.ts (what is recorded), calibration-tap.ts; the shared state is
// generation-state.ts. The public API and cross-generation state live in scheduler.ts.

import { MeshError } from "../errors.ts";
import type { Drafter, PipelinePort, StageRowOutput } from "../ports.ts";
import type { DraftCalibration } from "./calibration.ts";
import { CalibrationTap } from "./calibration-tap.ts";
import type { ResolvedConfig } from "./config.ts";
import { GenerationState, type FinishReason, type TokenEvent } from "./generation-state.ts";
import type { SpeculationGovernor } from "./governor.ts";
import { KvLedger } from "./kv-ledger.ts";
import type { PartitionPool } from "./kv-protocol.ts";
import { LoopMetrics } from "./loop-metrics.ts";
import type { MetricsRecorder } from "./metrics.ts";
import { RunLauncher } from "./run-launcher.ts";
import { matchRun, type RunRecord } from "./runs.ts";
import type { ResolvedSampling } from "./sampling.ts";
import type { StopMatcher } from "./stop-matcher.ts";
import { Verifier } from "./verifier.ts";

export type { FinishReason, TokenEvent } from "./generation-state.ts";

/** What a generation loop needs, grouped by where it comes from. */
export interface LoopParams {
  ports: {
    /** The pipeline, answering only this generation's runs' outcomes. */
    pipeline: PipelinePort;
    drafter: Drafter | null;
    clock: { now(): number };
    /**
     * The pipeline failed: replace it (the port's pipeline then talks to the replacement, whose stages
     * hold no KV). Resolves false when nothing can take over; absent: failures end the generation.
     */
    recover?: ((error: MeshError) => Promise<boolean>) | undefined;
  };
  /** What the scheduler keeps across generations. */
  shared: {
    config: ResolvedConfig;
    pool: PartitionPool;
    /** Draft calibration (learns and answers at temperature 0); null: raw probabilities. */
    calibration: DraftCalibration | null;
    /** The speculation governor (pipeinfer); null: always speculate within the bounds. */
    governor: SpeculationGovernor | null;
    nextRunId: () => number;
  };
  /** This generation's request. */
  request: {
    /** The whole context (previous + new tokens). */
    context: readonly number[];
    /** First context index whose KV the stages lack (prefill starts here). */
    prefillFrom: number;
    maxTokens: number;
    sampling: ResolvedSampling;
    stop: StopMatcher;
    signal: AbortSignal | undefined;
    emit: (event: TokenEvent) => void;
  };
  /** Becomes the result's metrics. */
  metrics: MetricsRecorder;
}

const aborted = (s: AbortSignal | undefined): boolean => s?.aborted === true;

/**
 * Failures a replacement pipeline can cure: a stage lost, stuck or untrustworthy, or the plan changed.
 * Not the head's own faults (internal errors, a destroyed scheduler) nor the request's.
 */
const RECOVERABLE: readonly string[] = [
  "ERR_PEER_LOST",
  "ERR_PEER_DESTROYED",
  "ERR_PLAN_STALE",
  "ERR_STAGE_FAILED",
  "ERR_NONFINITE",
  "ERR_RESULT_INVALID",
  "ERR_PROTOCOL_DECODE",
  "ERR_PROTOCOL_VERSION",
  "ERR_FRAME",
  "ERR_QUEUE_FULL",
  "ERR_MESSAGE_TOO_LARGE",
  "ERR_PEER_CONNECT",
  "ERR_TIMEOUT",
];

function recoverable(e: MeshError): boolean {
  return RECOVERABLE.includes(e.code);
}

export class GenerationLoop {
  readonly #p: LoopParams;
  readonly #state: GenerationState;
  readonly #metrics: LoopMetrics;
  readonly #ledger: KvLedger;
  readonly #launcher: RunLauncher;
  readonly #verifier: Verifier;

  constructor(params: LoopParams) {
    this.#p = params;
    const { ports, shared, request } = params;
    const { config } = shared;
    const state = new GenerationState({
      context: request.context,
      prefillFrom: request.prefillFrom,
      maxTokens: request.maxTokens,
      maxContextTokens: config.maxContextTokens,
      greedy: request.sampling.temperature === 0,
    });
    this.#state = state;
    const calibration = CalibrationTap.create(shared.calibration, ports.drafter, state.greedy);
    this.#metrics = new LoopMetrics(params.metrics, shared.governor, ports.clock);
    this.#ledger = new KvLedger(ports.pipeline, shared.pool, this.#metrics);
    this.#launcher = new RunLauncher({
      state,
      pipeline: ports.pipeline,
      drafter: ports.drafter,
      calibration,
      governor: shared.governor,
      config,
      sampling: request.sampling,
      ledger: this.#ledger,
      metrics: this.#metrics,
      nextRunId: shared.nextRunId,
      context: request.context,
      prefillFrom: request.prefillFrom,
      signal: request.signal,
    });
    this.#verifier = new Verifier({
      state,
      sampling: request.sampling,
      stop: request.stop,
      maxTokens: request.maxTokens,
      maxContextTokens: config.maxContextTokens,
      metrics: this.#metrics,
      calibration,
    });
  }

  /** Every token of the sequence: context, then generated (a trailing stop token id included). */
  get tokens(): readonly number[] {
    return this.#state.tokens;
  }
  get promptLength(): number {
    return this.#state.promptLength;
  }
  /** Positions [0, canonicalEnd) have canonical KV written or issued. */
  get canonicalEnd(): number {
    return this.#state.canonicalEnd;
  }
  get finish(): FinishReason | null {
    return this.#state.finish;
  }
  get fromDraft(): readonly boolean[] {
    return this.#state.fromDraft;
  }

  /**
   * Runs to a finish reason. An abort ends with finish = "abort". A pipeline failure is recovered from
   * when the recover port finds a replacement (at most maxRecoveries times): the runs in flight are
   * forgotten, the whole sequence so far is replayed into the replacement and decoding goes on from the
   * same tokens, stop matcher and budgets; otherwise the failure rejects.
   */
  async run(): Promise<void> {
    this.#metrics.beginGeneration();
    this.#launcher.prefill();
    const { signal } = this.#p.request;
    const state = this.#state;
    let recoveries = 0;
    for (;;) {
      try {
        await this.#decode();
        break;
      } catch (e) {
        if (aborted(signal)) break;
        const recover = this.#p.ports.recover;
        const limit = this.#p.shared.config.maxRecoveries;
        if (!(e instanceof MeshError) || !recoverable(e) || recover === undefined) throw e;
        if (recoveries >= limit) throw e;
        recoveries++;
        const failedMs = this.#p.ports.clock.now();
        this.#ledger.forgetAll(state);
        let replaced: boolean;
        try {
          replaced = await recover(e);
        } catch (again) {
          if (aborted(signal)) break;
          throw again;
        }
        if (!replaced) throw e;
        if (aborted(signal)) break;
        const peerId = (e.details as { peerId?: unknown } | undefined)?.peerId;
        this.#metrics.onRecovered(
          {
            code: e.code,
            ...(typeof peerId === "string" ? { peerId } : {}),
            atToken: state.tokens.length - state.promptLength,
            replaceMs: this.#p.ports.clock.now() - failedMs,
            replayedTokens: state.tokens.length,
          },
          failedMs,
        );
        this.#launcher.onAcceptance();
        this.#launcher.prefill(state.tokens, 0);
      }
    }
    if (state.finish === null) state.finish = "abort";
  }

  /** Processes outcomes and launches micro-batches until the generation finishes or the pipeline fails. */
  async #decode(): Promise<void> {
    const { pipeline } = this.#p.ports;
    const { signal } = this.#p.request;
    const state = this.#state;
    while (state.finish === null) {
      if (aborted(signal)) return;
      if (pipeline.hasOutcome()) {
        await this.#processNext();
        continue;
      }
      if (this.#launcher.maySpeculate()) {
        const r = await this.#launcher.speculate();
        if (r === "launched" || r === "interrupted") continue;
      }
      await this.#processNext();
    }
  }

  /**
   * After the end: cancels what is left, frees every partition, and consumes the outstanding outcomes so
   * the stages hold exactly canonical [0, canonicalEnd) afterwards. Never waits on the caller's signal.
   */
  async drain(): Promise<void> {
    const runs = this.#state.runs;
    this.#ledger.cancelAll(this.#state);
    while (runs.length > 0) {
      await this.#p.ports.pipeline.next();
      runs.shift();
    }
  }

  /** The oldest run's outcome: dropped (cancelled, skipped, stale) or verified and acted on. */
  async #processNext(): Promise<void> {
    const runs = this.#state.runs;
    if (runs.length === 0)
      throw new MeshError("ERR_INTERNAL", "no run in flight but generation not finished");
    const outcome = await this.#p.ports.pipeline.next(this.#p.request.signal);
    const run = runs.shift();
    if (run?.runId !== outcome.runId) {
      throw new MeshError(
        "ERR_INTERNAL",
        `outcome for run ${outcome.runId}, expected ${run?.runId}`,
      );
    }
    const metrics = this.#metrics;
    metrics.onArrival(outcome);
    if (run.cancelled) return metrics.onOutcome(outcome.stageComputeMs, true);
    if (outcome.status === "skipped") {
      if (run.kind !== "speculative" || run.draftNodes.length !== run.nodes.length) {
        throw new MeshError(
          "ERR_STAGE_FAILED",
          `${run.kind} run ${run.runId} came back skipped; canonical KV is incomplete`,
        );
      }
      this.#ledger.release(run);
      return metrics.onOutcome(outcome.stageComputeMs, true);
    }
    const m = matchRun(run, this.#state.tokens);
    if (m.kind !== "useful") {
      this.#ledger.release(run);
      return metrics.onOutcome(outcome.stageComputeMs, run.kind === "speculative");
    }
    metrics.onOutcome(outcome.stageComputeMs, false);
    await this.#accept(run, m.anchor, outcome.outputs);
  }

  /** Verifies a useful run, commits and frees its KV, emits the tokens, then relaunches and cancels. */
  async #accept(run: RunRecord, anchor: number, outputs: readonly StageRowOutput[]): Promise<void> {
    const state = this.#state;
    const { event, text, acceptance, from } = this.#verifier.verify(run, anchor, outputs);
    this.#ledger.commit(state, run, acceptance.lastDraftNode, from);
    this.#ledger.release(run);
    this.#launcher.onAcceptance();
    this.#metrics.onAccepted(event.tokens.length);
    if (event.tokens.length > 0 || text.length > 0) {
      const withText = text.length > 0 || this.#p.request.stop.text !== undefined;
      this.#p.request.emit({ ...event, ...(withText ? { text } : {}) });
    }
    if (state.finish !== null) return;
    await this.#launcher.launchForPending();
    this.#ledger.cancelInvalid(state);
    if (this.#p.shared.config.mode !== "plain")
      await this.#p.ports.drafter?.accept(Int32Array.from(state.tokens));
  }
}
