// PipelinePort in one process over an ordered list of StageRunners (the first embeds, the last returns
// outputs): `--peers 1`, tests, and simulations with a per-hop latency. Same ordering and cancel semantics as
// the networked pipeline (StageCore per stage, cancels reach every stage directly), without any encoding.

import { MeshError } from "../errors.ts";
import type { PipelinePort, RunOutcome, RunSpec, StageKvOp, StageRunner } from "../ports.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import { OutcomeQueue } from "./outcomes.ts";
import { failureCode } from "./finite.ts";
import { StageCore, type StageInput, type StageSink } from "./stage-core.ts";

export interface LocalPipelineOptions {
  /** In pipeline order: runners[0] embeds tokens, the last one returns outputs. */
  runners: readonly StageRunner[];
  /** Simulated one-way latency per hop (stage to stage, tail to head, head to stage for cancels). */
  hopLatencyMs?: number;
  clock?: Clock;
}

/** Delivers items in order after a fixed delay (one timer at a time). */
class Hop {
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #queue: { atMs: number; fn: () => void }[] = [];
  #armed = false;
  #stopped = false;

  constructor(clock: Clock, delayMs: number) {
    this.#clock = clock;
    this.#delayMs = delayMs;
  }

  send(fn: () => void): void {
    if (this.#stopped) return;
    if (this.#delayMs <= 0) {
      fn();
      return;
    }
    this.#queue.push({ atMs: this.#clock.now() + this.#delayMs, fn });
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
  }

  #arm(): void {
    const head = this.#queue[0];
    if (this.#armed || head === undefined) return;
    this.#armed = true;
    this.#clock.after(Math.max(0, head.atMs - this.#clock.now()), () => {
      this.#armed = false;
      const now = this.#clock.now();
      while (!this.#stopped && (this.#queue[0]?.atMs ?? Infinity) <= now) this.#queue.shift()?.fn();
      this.#arm();
    });
  }
}

export class LocalPipeline implements PipelinePort {
  readonly #outcomes = new OutcomeQueue();
  readonly #cores: StageCore[];
  readonly #hops: Hop[];
  readonly #cancelHop: Hop;
  #destroyed = false;

  constructor(options: LocalPipelineOptions) {
    const n = options.runners.length;
    if (n === 0) throw new MeshError("ERR_PLAN_IMPOSSIBLE", "a pipeline needs at least one stage");
    const clock = options.clock ?? systemClock;
    const latency = options.hopLatencyMs ?? 0;
    // hops[i] carries stage i's output: to stage i+1, or (the tail) back to the head's outcome queue.
    this.#hops = options.runners.map(() => new Hop(clock, n > 1 ? latency : 0));
    this.#cancelHop = new Hop(clock, latency);
    this.#cores = [];
    options.runners.forEach((runner, i) => {
      const hop = this.#hops[i] ?? new Hop(clock, 0);
      const isTail = i === n - 1;
      const forward = (input: StageInput): void => hop.send(() => this.#cores[i + 1]?.push(input));
      const sink: StageSink = {
        run: (header, result) => {
          if (isTail) {
            const outcome: RunOutcome = {
              runId: header.runId,
              status: "done",
              outputs: result.outputs ?? [],
              stageComputeMs: header.stageComputeMs,
              stageTimesMs: header.stageTimesMs,
            };
            hop.send(() => this.#outcomes.deliver(outcome));
          } else if (result.hidden === undefined) {
            this.#fail(
              new MeshError(
                "ERR_STAGE_FAILED",
                `stage ${i} returned no hidden states for run ${header.runId}`,
              ),
            );
          } else {
            forward({ type: "run", header, hidden: result.hidden });
          }
        },
        kv: (op) => {
          if (!isTail) forward({ type: "kv", op });
        },
        skip: (runId, stageComputeMs, stageTimesMs) => {
          if (isTail)
            hop.send(() =>
              this.#outcomes.deliver({ runId, status: "skipped", stageComputeMs, stageTimesMs }),
            );
          else forward({ type: "skip", runId, stageComputeMs, stageTimesMs });
        },
        failed: (runId, error) => {
          this.#fail(
            new MeshError(
              failureCode(error),
              `stage ${i}${runId === null ? "" : ` run ${runId}`}: ${String(error)}`,
              {
                cause: error,
                details: { stageIndex: i },
              },
            ),
          );
        },
      };
      this.#cores.push(new StageCore({ runner, sink, clock, name: `stage ${i}` }));
    });
  }

  launch(run: RunSpec): void {
    if (this.#destroyed) return;
    this.#outcomes.launched(run.runId, run.kind);
    this.#cores[0]?.push({
      type: "run",
      tokens: run.tokens,
      header: {
        runId: run.runId,
        kind: run.kind,
        positions: run.positions,
        seqIds: run.seqIds,
        outputRows: run.outputRows,
        logitsRows: run.logitsRows,
        topK: run.topK,
        stageComputeMs: 0,
      },
    });
  }

  kv(op: StageKvOp): void {
    if (!this.#destroyed) this.#cores[0]?.push({ type: "kv", op });
  }

  cancel(runIds: readonly number[]): void {
    if (this.#destroyed) return;
    const ids = runIds.filter((id) => this.#outcomes.kindOf(id) === "speculative");
    if (ids.length === 0) return;
    this.#cores[0]?.cancel(ids);
    this.#cancelHop.send(() => this.#cores.slice(1).forEach((c) => c.cancel(ids)));
  }

  hasOutcome(): boolean {
    return this.#outcomes.hasOutcome();
  }

  next(signal?: AbortSignal): Promise<RunOutcome> {
    return this.#outcomes.next(signal);
  }

  /** Per-stage totals (compute ms, runs done and skipped). */
  stats(): { computeMs: number; runsDone: number; runsSkipped: number; queued: number }[] {
    return this.#cores.map((c) => c.stats);
  }

  /** Stops every stage; outstanding next() calls reject with ERR_DESTROYED. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#fail(new MeshError("ERR_DESTROYED", "pipeline destroyed"));
  }

  #fail(error: MeshError): void {
    this.#outcomes.fail(error);
    for (const c of this.#cores) c.destroy();
    for (const h of this.#hops) h.stop();
    this.#cancelHop.stop();
  }
}
