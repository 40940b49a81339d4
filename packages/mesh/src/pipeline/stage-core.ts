// One stage's ordered work loop, independent of transport: applies runs and KV ops strictly in arrival
// (= head issue) order through a StageRunner, skips speculative runs cancelled before they start, aborts one
// that is cancelled mid-run (the runner checks its signal between layers), and hands results, skip markers
// and KV ops to a sink. Used by the head (embedding), by remote stages and by the in-process pipeline. A
// runner's output holding NaN or infinity is a failure of this stage (ERR_NONFINITE), never forwarded.

import type { StageBatch, StageKvOp, StageResult, StageRunner, StageTimesMs } from "../ports.ts";
import { checkFiniteResult } from "./finite.ts";
import type { RunKind } from "../protocol/messages.ts";
import { systemClock, type Clock } from "../transport/clock.ts";

export interface RunHeader {
  runId: number;
  kind: RunKind;
  positions: Int32Array; // [rows]
  seqIds: readonly (readonly number[])[]; // per row
  outputRows: Int32Array;
  logitsRows?: Int32Array | undefined;
  topK?: number | undefined;
  /** Compute time the run has cost so far, summed over the stages it passed. */
  stageComputeMs: number;
  /** [waitMs, computeMs] per stage passed so far (optional; see StageTimesMs in ports.ts). */
  stageTimesMs?: StageTimesMs | undefined;
}

export type StageInput =
  | {
      type: "run";
      header: RunHeader;
      tokens?: Int32Array | undefined;
      hidden?: Float32Array | undefined;
    }
  | { type: "kv"; op: StageKvOp }
  | {
      type: "skip";
      runId: number;
      stageComputeMs: number;
      stageTimesMs?: StageTimesMs | undefined;
    };

/** Where a stage's output goes. A returned promise holds the loop (downstream backpressure). */
export interface StageSink {
  /** A computed run; `header.stageComputeMs` includes this stage. */
  run(header: RunHeader, result: StageResult): void | Promise<void>;
  kv(op: StageKvOp): void | Promise<void>;
  skip(runId: number, stageComputeMs: number, stageTimesMs?: StageTimesMs): void | Promise<void>;
  /** The runner failed (not an abort). `runId` is null for a KV op. */
  failed(runId: number | null, error: unknown): void;
}

export interface StageCoreOptions {
  runner: StageRunner;
  sink: StageSink;
  clock?: Clock;
  /** How errors name this stage (default "stage"). */
  name?: string;
  /** Cancelled run ids remembered for runs not seen yet (oldest forgotten first). */
  maxRememberedCancels?: number;
}

export class StageCore {
  readonly #runner: StageRunner;
  readonly #sink: StageSink;
  readonly #clock: Clock;
  readonly #maxCancels: number;
  readonly #name: string;
  readonly #queue: { input: StageInput; atMs: number }[] = [];
  readonly #cancelled = new Set<number>();
  /** The id of the last run (or skip marker) that arrived; runs arrive in increasing id order. */
  #lastArrivedRunId = -1;
  #current: { runId: number; kind: RunKind; abort: AbortController } | null = null;
  #running = false;
  #destroyed = false;
  #idleWaiters: (() => void)[] = [];
  #computeMs = 0;
  #runsDone = 0;
  #runsSkipped = 0;

  constructor(options: StageCoreOptions) {
    this.#runner = options.runner;
    this.#sink = options.sink;
    this.#clock = options.clock ?? systemClock;
    this.#maxCancels = options.maxRememberedCancels ?? 4096;
    this.#name = options.name ?? "stage";
  }

  /** Totals for the pipeline view. */
  get stats(): { computeMs: number; runsDone: number; runsSkipped: number; queued: number } {
    return {
      computeMs: this.#computeMs,
      runsDone: this.#runsDone,
      runsSkipped: this.#runsSkipped,
      queued: this.#queue.length,
    };
  }

  push(input: StageInput): void {
    if (this.#destroyed) return;
    this.#queue.push({ input, atMs: this.#clock.now() });
    if (!this.#running) void this.#loop();
  }

  /** Out-of-band cancel (idempotent). Only speculative runs are ever skipped or aborted. */
  cancel(runIds: readonly number[]): void {
    for (const id of runIds) {
      const cur = this.#current;
      if (cur !== null && cur.runId === id) {
        if (cur.kind === "speculative") cur.abort.abort();
        continue;
      }
      this.#cancelled.add(id);
    }
    while (this.#cancelled.size > this.#maxCancels) {
      const oldest = this.#cancelled.values().next();
      if (oldest.done === true) break;
      this.#cancelled.delete(oldest.value);
    }
  }

  /** Resolves when the queue is empty and nothing runs (tests). */
  idle(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops the loop after the current item; aborts a running speculative run. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue.length = 0;
    this.#current?.abort.abort();
    this.#wakeIdle();
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      for (
        let queued = this.#queue.shift();
        queued !== undefined && !this.#destroyed;
        queued = this.#queue.shift()
      ) {
        const item = queued.input;
        switch (item.type) {
          case "kv":
            await this.#kv(item.op);
            break;
          case "skip":
            this.#arrived(item.runId);
            this.#cancelled.delete(item.runId);
            this.#runsSkipped++;
            await this.#sink.skip(
              item.runId,
              item.stageComputeMs,
              timesWith(item.stageTimesMs, this.#clock.now() - queued.atMs, 0),
            );
            break;
          case "run":
            await this.#run(item, queued.atMs);
            break;
        }
      }
    } catch (e) {
      // A sink threw (its link is gone): the owner tears the stage down through its own close path.
      this.#sink.failed(null, e);
    } finally {
      this.#running = false;
      this.#wakeIdle();
    }
  }

  /**
   * Keeps the remembered cancels honest. Runs reach a stage in issue order, so a remembered cancel for an
   * id below the arriving one is stale (its run already passed: the cancel came too late) and is dropped.
   * An id that is not above the last one means a new head (ids restarted): every remembered cancel may
   * belong to the old one, so all are dropped. Forgetting a cancel only costs compute; remembering a stale
   * one would skip a live run of the new head.
   */
  #arrived(runId: number): void {
    if (runId <= this.#lastArrivedRunId) {
      this.#cancelled.clear();
    } else {
      for (const id of this.#cancelled) if (id < runId) this.#cancelled.delete(id);
    }
    this.#lastArrivedRunId = runId;
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  async #kv(op: StageKvOp): Promise<void> {
    await this.#sink.kv(op); // forward first: downstream applies it in the same position of its stream
    try {
      await this.#runner.kv(op);
    } catch (e) {
      this.#sink.failed(null, e);
    }
  }

  async #run(item: Extract<StageInput, { type: "run" }>, arrivedMs: number): Promise<void> {
    const { header } = item;
    this.#arrived(header.runId);
    if (header.kind === "speculative" && this.#cancelled.delete(header.runId)) {
      this.#runsSkipped++;
      const waitMs = this.#clock.now() - arrivedMs;
      await this.#sink.skip(
        header.runId,
        header.stageComputeMs,
        timesWith(header.stageTimesMs, waitMs, 0),
      );
      return;
    }
    this.#cancelled.delete(header.runId);
    const abort = new AbortController();
    this.#current = { runId: header.runId, kind: header.kind, abort };
    const batch: StageBatch = {
      positions: header.positions,
      seqIds: header.seqIds,
      outputRows: header.outputRows,
      ...(item.tokens === undefined ? {} : { tokens: item.tokens }),
      ...(item.hidden === undefined ? {} : { hidden: item.hidden }),
      ...(header.logitsRows === undefined ? {} : { logitsRows: header.logitsRows }),
      ...(header.topK === undefined ? {} : { topK: header.topK }),
    };
    const t0 = this.#clock.now();
    const waitMs = t0 - arrivedMs;
    let result: StageResult;
    try {
      result = await this.#runner.run(batch, abort.signal);
      if (!abort.signal.aborted) checkFiniteResult(result, `${this.#name} run ${header.runId}`);
    } catch (e) {
      const ms = this.#clock.now() - t0;
      this.#computeMs += ms;
      this.#current = null;
      const times = timesWith(header.stageTimesMs, waitMs, ms);
      if (abort.signal.aborted) {
        this.#runsSkipped++;
        await this.#sink.skip(header.runId, header.stageComputeMs + ms, times);
      } else {
        this.#sink.failed(header.runId, e);
        await this.#sink.skip(header.runId, header.stageComputeMs + ms, times); // keep the stream in step
      }
      return;
    }
    const ms = this.#clock.now() - t0;
    this.#computeMs += ms;
    this.#current = null;
    const times = timesWith(header.stageTimesMs, waitMs, ms);
    if (abort.signal.aborted) {
      // Cancelled after its last layer: the activations are useless downstream, so send the marker.
      this.#runsSkipped++;
      await this.#sink.skip(header.runId, header.stageComputeMs + ms, times);
      return;
    }
    this.#runsDone++;
    await this.#sink.run(
      { ...header, stageComputeMs: header.stageComputeMs + ms, stageTimesMs: times },
      result,
    );
  }
}

/** The upstream stages' times plus this stage's [waitMs, computeMs]. */
function timesWith(
  before: StageTimesMs | undefined,
  waitMs: number,
  computeMs: number,
): StageTimesMs {
  return [...(before ?? []), Math.max(0, waitMs), Math.max(0, computeMs)];
}
