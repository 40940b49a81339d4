// RunLog: what the pipeline view draws, recorded at the head: every run's launch (time, kind, rows), the
// cancels the scheduler sent, and each outcome (time, done or skipped, per-stage [wait, compute] times).
// RecordingPipeline is a PipelinePort decorator that feeds it without changing anything it forwards.
// Pure bookkeeping with an injected clock; no drawing here (see timeline.ts).

import type { PipelinePort, RunOutcome, RunSpec, StageKvOp } from "@pipemesh/mesh";

export type RunKind = RunSpec["kind"];

export interface RunRecord {
  runId: number;
  kind: RunKind;
  rows: number;
  launchMs: number;
  /** When the scheduler cancelled it (speculative runs only). */
  cancelledMs: number | null;
  outcome: {
    atMs: number;
    status: RunOutcome["status"];
    stageTimesMs: number[] | undefined;
  } | null;
}

export interface RunLogOptions {
  clock?: { now(): number };
  /** Runs kept (oldest dropped first). */
  maxRuns?: number;
}

export class RunLog {
  readonly #clock: { now(): number };
  readonly #maxRuns: number;
  readonly #runs: RunRecord[] = [];
  readonly #byId = new Map<number, RunRecord>();
  readonly #listeners = new Set<() => void>();
  /** Stage labels in pipeline order (the head first), for the session that records. */
  #stages: string[] = [];

  constructor(options: RunLogOptions = {}) {
    this.#clock = options.clock ?? { now: () => performance.now() };
    this.#maxRuns = options.maxRuns ?? 2000;
  }

  now(): number {
    return this.#clock.now();
  }

  get runs(): readonly RunRecord[] {
    return this.#runs;
  }

  get stages(): readonly string[] {
    return this.#stages;
  }

  /** When the latest reply started (the view shows from here on). */
  replyStartMs: number | null = null;

  /** A reply starts: the view follows it. */
  beginReply(): void {
    this.replyStartMs = this.#clock.now();
    this.#changed();
  }

  /** A new pipeline (new session): new stage lanes, old runs dropped. */
  reset(stages: readonly string[]): void {
    this.#stages = [...stages];
    this.#runs.length = 0;
    this.#byId.clear();
    this.#changed();
  }

  launched(run: RunSpec): void {
    const r: RunRecord = {
      runId: run.runId,
      kind: run.kind,
      rows: run.tokens.length,
      launchMs: this.#clock.now(),
      cancelledMs: null,
      outcome: null,
    };
    this.#runs.push(r);
    this.#byId.set(r.runId, r);
    while (this.#runs.length > this.#maxRuns) {
      const old = this.#runs.shift();
      if (old !== undefined) this.#byId.delete(old.runId);
    }
    this.#changed();
  }

  cancelled(runIds: readonly number[]): void {
    const t = this.#clock.now();
    for (const id of runIds) {
      const r = this.#byId.get(id);
      if (r !== undefined && r.cancelledMs === null) r.cancelledMs = t;
    }
    this.#changed();
  }

  outcome(o: RunOutcome): void {
    const r = this.#byId.get(o.runId);
    if (r === undefined) return;
    r.outcome = { atMs: this.#clock.now(), status: o.status, stageTimesMs: o.stageTimesMs };
    this.#changed();
  }

  /** Called after every change (the view redraws on the next frame). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }
}

/** A PipelinePort that records launches, cancels and outcomes into a RunLog and forwards everything. */
export class RecordingPipeline implements PipelinePort {
  readonly #inner: PipelinePort;
  readonly #log: RunLog;

  constructor(inner: PipelinePort, log: RunLog) {
    this.#inner = inner;
    this.#log = log;
  }

  launch(run: RunSpec): void {
    this.#log.launched(run);
    this.#inner.launch(run);
  }

  kv(op: StageKvOp): void {
    this.#inner.kv(op);
  }

  cancel(runIds: readonly number[]): void {
    this.#log.cancelled(runIds);
    this.#inner.cancel(runIds);
  }

  hasOutcome(): boolean {
    return this.#inner.hasOutcome();
  }

  async next(signal?: AbortSignal): Promise<RunOutcome> {
    const o = await this.#inner.next(signal);
    this.#log.outcome(o);
    return o;
  }
}
