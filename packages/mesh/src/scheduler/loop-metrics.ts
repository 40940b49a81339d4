// What one generation records as it runs: launches, cancels, outcomes (stage compute used or discarded),
// drafts verified and accepted, acceptance events and token times (into the MetricsRecorder that becomes
// the result's metrics), and the measurements the speculation governor learns from (one-row canonical
// round trips, accepted tokens over time) and which arm launched the run behind each token. Records only: it launches, verifies and frees nothing, and the
// governor's decision is read by the launcher, not here.

import type { RunOutcome, RunSpec } from "../ports.ts";
import type { GovernorArm, SpeculationGovernor } from "./governor.ts";
import type { MetricsRecorder, RecoveryRecord } from "./metrics.ts";
import { acceptedNodes, type RunRecord } from "./runs.ts";

export class LoopMetrics {
  readonly #recorder: MetricsRecorder;
  readonly #governor: SpeculationGovernor | null;
  readonly #clock: { now(): number };
  /** Launch times of one-row canonical runs, for the governor's plain estimate. */
  readonly #canonicalLaunchMs = new Map<number, number>();
  /** The arm each in-flight run was launched under (for the result's arm spans). */
  readonly #armOf = new Map<number, GovernorArm>();
  /** The arm of the run whose outcome is being processed. */
  #arrivedArm: GovernorArm;
  /** The arm when there is no governor: fixed by the mode. */
  readonly #fixedArm: GovernorArm;

  constructor(
    recorder: MetricsRecorder,
    governor: SpeculationGovernor | null,
    clock: { now(): number },
  ) {
    this.#recorder = recorder;
    this.#governor = governor;
    this.#clock = clock;
    this.#fixedArm =
      recorder.mode === "plain" ? "plain" : recorder.mode === "speculative" ? "sync" : "async";
    this.#arrivedArm = this.#currentArm();
  }

  #currentArm(): GovernorArm {
    return this.#governor?.arm ?? this.#fixedArm;
  }

  now(): number {
    return this.#clock.now();
  }

  /** A generation starts: governor windows never span the prefill or the pause before it. */
  beginGeneration(): void {
    this.#governor?.beginGeneration();
  }

  onLaunch(spec: RunSpec): void {
    const m = this.#recorder;
    m.runsLaunched++;
    if (spec.kind === "speculative") m.speculativeRunsLaunched++;
    this.#armOf.set(spec.runId, this.#currentArm());
    if (spec.kind === "canonical" && spec.tokens.length === 1 && this.#governor !== null)
      this.#canonicalLaunchMs.set(spec.runId, this.#clock.now());
  }

  onForkLaunched(): void {
    this.#recorder.correctionForksLaunched++;
  }

  onCancelled(count: number): void {
    this.#recorder.runsCancelled += count;
  }

  /** Any outcome, first thing on arrival: a one-row canonical run's round trip feeds the governor. */
  onArrival(outcome: RunOutcome): void {
    this.#arrivedArm = this.#armOf.get(outcome.runId) ?? this.#currentArm();
    this.#armOf.delete(outcome.runId);
    const launchedMs = this.#canonicalLaunchMs.get(outcome.runId);
    if (launchedMs === undefined) return;
    this.#canonicalLaunchMs.delete(outcome.runId);
    if (outcome.status === "done")
      this.#governor?.observeCanonical(
        this.#clock.now() - launchedMs,
        waitOf(outcome.stageTimesMs),
      );
  }

  /** The outcome's stage compute, and whether it was spent for nothing. */
  onOutcome(stageComputeMs: number, discarded: boolean): void {
    this.#recorder.onOutcome(stageComputeMs, discarded);
  }

  /** A token kept for the caller was accepted now (from the run whose outcome arrived last). */
  onTokenKept(): void {
    this.#recorder.onTokenTime(this.#clock.now());
    this.#recorder.tokenArms.push(this.#arrivedArm);
  }

  /** The pipeline failed at `failedMs` and a replacement took the replay. */
  onRecovered(record: Omit<RecoveryRecord, "recoveredMs">, failedMs: number): void {
    this.#recorder.onRecovered(record, failedMs);
    this.#armOf.clear();
    this.#canonicalLaunchMs.clear();
  }

  /** A run was verified against the accepted `tokens`: its drafts count as verified, those on the path as accepted. */
  onVerified(run: RunRecord, tokens: readonly number[]): void {
    const m = this.#recorder;
    if (run.kind === "speculative") {
      m.draftTokensVerified += run.draftNodes.length;
      m.draftTokensAccepted += acceptedNodes(run, tokens).filter((i) =>
        run.draftNodes.includes(i),
      ).length;
    }
    m.acceptanceEvents++;
  }

  /** `count` tokens reached the caller in one acceptance (the governor's windows). */
  onAccepted(count: number): void {
    this.#governor?.onTokens(count, this.#clock.now());
  }
}

/** Total queueing of a run over the stages it passed ([waitMs, computeMs] pairs). */
function waitOf(times: readonly number[] | undefined): number {
  let w = 0;
  if (times !== undefined) for (let i = 0; i < times.length; i += 2) w += times[i] ?? 0;
  return w;
}
