// Liveness beyond heartbeats: a deadline for the oldest run still waiting for its outcome, derived from what
// the pipeline measured. Outcomes return in launch order and nothing runs ahead of the oldest run, so its
// expected time is its own: its compute, the larger of compute per row (from the stages' reported compute
// times) times its rows and the compute of a whole run (a one-row run after a batched prefill costs more
// than its share), plus the transit the pipeline adds on top of compute (the measured gap minus compute). The bound is
// max(minMs, factor x expected). A stage whose links and heartbeats live on while its work never returns (a
// stopped process, a frozen tab) passes the bound and the owner treats it like a lost peer. Before anything
// is measured (the first runs compile shaders and upload weights) only `unmeasuredMs` applies.

import type { Clock } from "../transport/clock.ts";

export interface RunDeadlineOptions {
  clock: Clock;
  /** The smallest bound (default 5000 ms). */
  minMs?: number;
  /** The bound as a multiple of the run's expected time (default 3). */
  factor?: number;
  /** The bound while no run has been measured yet (default 120000 ms). */
  unmeasuredMs?: number;
  /** The oldest run passed its bound; called once, and nothing is armed again. */
  onExpire: (expired: { runId: number; elapsedMs: number; boundMs: number }) => void;
}

interface Pending {
  runId: number;
  rows: number;
  launchedMs: number;
}

/** How fast an estimate falls back after a slow sample (it rises at once). */
const DECAY = 0.2;

export class RunDeadline {
  readonly #clock: Clock;
  readonly #minMs: number;
  readonly #factor: number;
  readonly #unmeasuredMs: number;
  readonly #onExpire: RunDeadlineOptions["onExpire"];
  readonly #pending: Pending[] = [];
  #perRowMs: number | null = null;
  #perRunMs = 0;
  #transitMs = 0;
  #lastOutcomeMs = -Infinity;
  #armed: { runId: number; startMs: number; boundMs: number; cancel: () => void } | null = null;
  #stopped = false;

  constructor(options: RunDeadlineOptions) {
    this.#clock = options.clock;
    this.#minMs = options.minMs ?? 5000;
    this.#factor = options.factor ?? 3;
    this.#unmeasuredMs = options.unmeasuredMs ?? 120_000;
    this.#onExpire = options.onExpire;
  }

  /** The expected time of a run of `rows` rows (null before any measurement). */
  expectedMs(rows: number): number | null {
    if (this.#perRowMs === null) return null;
    return this.#transitMs + Math.max(this.#perRunMs, this.#perRowMs * Math.max(1, rows));
  }

  /** The bound a run of `rows` rows gets now. */
  boundMs(rows: number): number {
    const e = this.expectedMs(rows);
    return e === null ? this.#unmeasuredMs : Math.max(this.#minMs, this.#factor * e);
  }

  launched(runId: number, rows: number): void {
    if (this.#stopped) return;
    this.#pending.push({ runId, rows, launchedMs: this.#clock.now() });
    if (this.#armed === null) this.#arm();
  }

  /** The oldest run's outcome arrived; `computeMs` is the compute it cost (null for a skip marker). */
  outcome(runId: number, computeMs: number | null): void {
    if (this.#stopped) return;
    const p = this.#pending[0];
    if (p === undefined || p.runId !== runId) return; // the owner fails the pipeline for this
    this.#pending.shift();
    const now = this.#clock.now();
    const startMs = this.#armed?.startMs ?? Math.max(p.launchedMs, this.#lastOutcomeMs);
    this.#lastOutcomeMs = now;
    if (computeMs !== null && computeMs >= 0) {
      const perRow = computeMs / Math.max(1, p.rows);
      const transit = Math.max(0, now - startMs - computeMs);
      this.#perRowMs = this.#perRowMs === null ? perRow : track(this.#perRowMs, perRow);
      this.#perRunMs = track(this.#perRunMs, computeMs);
      this.#transitMs = track(this.#transitMs, transit);
    }
    this.#disarm();
    this.#arm();
  }

  /** Disarms for good (the pipeline failed or was destroyed). */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
    this.#pending.length = 0;
  }

  #arm(): void {
    const p = this.#pending[0];
    if (p === undefined || this.#stopped) return;
    const startMs = Math.max(p.launchedMs, this.#lastOutcomeMs);
    const boundMs = this.boundMs(p.rows);
    const waitMs = Math.max(0, startMs + boundMs - this.#clock.now());
    const cancel = this.#clock.after(waitMs, () => {
      if (this.#stopped || this.#armed?.runId !== p.runId) return;
      const elapsedMs = this.#clock.now() - startMs;
      this.stop();
      this.#onExpire({ runId: p.runId, elapsedMs, boundMs });
    });
    this.#armed = { runId: p.runId, startMs, boundMs, cancel };
  }

  #disarm(): void {
    this.#armed?.cancel();
    this.#armed = null;
  }
}

/** Rises to a slower sample at once, falls back gradually after faster ones. */
function track(estimate: number, sample: number): number {
  return sample >= estimate ? sample : estimate + DECAY * (sample - estimate);
}
