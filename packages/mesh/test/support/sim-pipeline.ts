// SimPipeline: a PipelinePort over N toy stages on a SimClock. Models per-link latency, jitter (FIFO kept),
// bandwidth, per-stage compute (base + per extra row, split into cancel checkpoints), strict FIFO per
// stage for runs and KV ops, out-of-band cancels that land after a delay and stop a run between
// checkpoints, and skip markers. Deterministic given its seed. A test double, not a transport.

import { MeshError } from "../../src/errors.ts";
import type {
  PipelinePort,
  RunOutcome,
  RunSpec,
  StageBatch,
  StageKvOp,
  StageResult,
} from "../../src/ports.ts";
import type { SimClock } from "./sim-clock.ts";
import type { ToyStage, ToyStageRun } from "./toy-model.ts";

export interface SimComputeModel {
  /** Busy time of one stage for a one-row run. */
  baseMs: number;
  /** Added per row beyond the first. */
  perExtraRowMs: number;
}

export interface SimPipelineOptions {
  clock: SimClock;
  stages: ToyStage[];
  seed?: number;
  /** Latency of each link stage→stage and tail→head (ms). */
  hopMs?: number;
  /** Latency head→first stage (0: the head hosts the first stage). */
  headHopMs?: number;
  /** Extra latency per message, uniform in [0, hopJitterMs); links stay FIFO. */
  hopJitterMs?: number;
  /** Per-link bandwidth in Mbit/s (default unlimited). */
  bandwidthMbps?: number;
  activationBytesPerRow?: number;
  tokenBytesPerRow?: number;
  resultBytesPerRow?: number;
  markerBytes?: number;
  /** One model for all stages, or one per stage. Default { baseMs: 1, perExtraRowMs: 0.1 }. */
  compute?: SimComputeModel | SimComputeModel[];
  /** Compute time is multiplied by 1 + computeJitter * (2u - 1). */
  computeJitter?: number;
  /** Delay before a cancel reaches stage i (default: headHopMs for stage 0, hopMs otherwise). */
  cancelDelayMs?: number;
  /** Cancel checkpoints per stage run (default: the stage's layer count). */
  stepsPerStage?: number;
}

type StageMsg =
  | { kind: "run"; runId: number; batch: StageBatch }
  | { kind: "kv"; op: StageKvOp }
  | { kind: "skip"; runId: number };

interface RunRecord {
  spec: RunSpec;
  computeMs: number;
  outcome: RunOutcome | null;
}

interface StageState {
  queue: StageMsg[];
  busy: boolean;
  cancelled: Set<number>;
  busyMs: number;
}

interface Link {
  latencyMs: number;
  freeAtMs: number;
  lastArrivalMs: number;
}

export interface SimPipelineStats {
  launched: { prefill: number; canonical: number; speculative: number };
  kvOps: number;
  cancelledIds: number;
  cancelCalls: number;
  maxOutstanding: number;
  skippedOutcomes: number;
  abortedMidRun: number;
  /** Busy ms per stage. */
  stageBusyMs: number[];
}

export class SimPipeline implements PipelinePort {
  readonly stages: ToyStage[];
  readonly stats: SimPipelineStats;
  /** Everything the head issued, in order (tests inspect KV ops per event). */
  readonly log: ({ atMs: number } & (
    | { type: "launch"; run: RunSpec }
    | { type: "kv"; op: StageKvOp }
    | { type: "cancel"; runIds: number[] }
    | { type: "outcome"; runId: number; status: RunOutcome["status"] }
  ))[] = [];
  readonly #o: Required<Omit<SimPipelineOptions, "cancelDelayMs" | "stepsPerStage">> &
    Pick<SimPipelineOptions, "cancelDelayMs" | "stepsPerStage">;
  readonly #clock: SimClock;
  readonly #runs = new Map<number, RunRecord>();
  readonly #outstanding: number[] = [];
  readonly #state: StageState[];
  readonly #links: Link[];
  #rng: () => number;
  #failed: MeshError | null = null;
  #waiter: { resolve: (o: RunOutcome) => void; reject: (e: Error) => void } | null = null;

  constructor(options: SimPipelineOptions) {
    this.#o = {
      seed: 1,
      hopMs: 1,
      headHopMs: 0,
      hopJitterMs: 0,
      bandwidthMbps: Number.POSITIVE_INFINITY,
      activationBytesPerRow: 4 * 1024,
      tokenBytesPerRow: 16,
      resultBytesPerRow: 96,
      markerBytes: 32,
      compute: { baseMs: 1, perExtraRowMs: 0.1 },
      computeJitter: 0,
      ...options,
    };
    this.#clock = options.clock;
    this.stages = options.stages;
    this.#rng = mulberry32(this.#o.seed);
    const n = this.stages.length;
    this.#state = this.stages.map(() => ({
      queue: [],
      busy: false,
      cancelled: new Set(),
      busyMs: 0,
    }));
    this.#links = Array.from({ length: n + 1 }, (_, i) => ({
      latencyMs: i === 0 ? this.#o.headHopMs : this.#o.hopMs,
      freeAtMs: 0,
      lastArrivalMs: 0,
    }));
    this.stats = {
      launched: { prefill: 0, canonical: 0, speculative: 0 },
      kvOps: 0,
      cancelledIds: 0,
      cancelCalls: 0,
      maxOutstanding: 0,
      skippedOutcomes: 0,
      abortedMidRun: 0,
      stageBusyMs: this.stages.map(() => 0),
    };
  }

  get outstanding(): number {
    return this.#outstanding.length;
  }

  launch(run: RunSpec): void {
    if (this.#runs.has(run.runId)) throw new Error(`SimPipeline: run ${run.runId} launched twice`);
    this.log.push({ atMs: this.#clock.now(), type: "launch", run });
    this.stats.launched[run.kind]++;
    this.#runs.set(run.runId, { spec: run, computeMs: 0, outcome: null });
    this.#outstanding.push(run.runId);
    this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, this.#outstanding.length);
    const batch: StageBatch = {
      tokens: run.tokens,
      positions: run.positions,
      seqIds: run.seqIds,
      outputRows: run.outputRows,
      logitsRows: run.logitsRows,
      topK: run.topK,
    };
    this.#send(0, run.tokens.length * this.#o.tokenBytesPerRow, () =>
      this.#arrive(0, { kind: "run", runId: run.runId, batch }),
    );
  }

  kv(op: StageKvOp): void {
    this.log.push({ atMs: this.#clock.now(), type: "kv", op });
    this.stats.kvOps++;
    this.#send(0, this.#o.markerBytes, () => this.#arrive(0, { kind: "kv", op }));
  }

  cancel(runIds: readonly number[]): void {
    if (runIds.length === 0) return;
    for (const id of runIds) {
      const kind = this.#runs.get(id)?.spec.kind;
      if (kind !== undefined && kind !== "speculative") {
        throw new Error(
          `SimPipeline: run ${id} is ${kind}; only speculative runs may be cancelled`,
        );
      }
    }
    this.log.push({ atMs: this.#clock.now(), type: "cancel", runIds: [...runIds] });
    this.stats.cancelCalls++;
    this.stats.cancelledIds += runIds.length;
    this.#state.forEach((st, i) => {
      const delay = this.#o.cancelDelayMs ?? (i === 0 ? this.#o.headHopMs : this.#o.hopMs);
      this.#clock.after(delay + this.#jitter(), () => {
        for (const id of runIds) st.cancelled.add(id);
      });
    });
  }

  hasOutcome(): boolean {
    if (this.#failed !== null) return true;
    const oldest = this.#outstanding[0];
    return oldest !== undefined && this.#runs.get(oldest)?.outcome != null;
  }

  next(signal?: AbortSignal): Promise<RunOutcome> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    if (this.#waiter !== null)
      return Promise.reject(new MeshError("ERR_INTERNAL", "next() while another next() waits"));
    const oldest = this.#outstanding[0];
    if (oldest === undefined)
      return Promise.reject(new MeshError("ERR_INTERNAL", "next() with no outstanding run"));
    const ready = this.#take();
    if (ready !== null) return Promise.resolve(ready);
    if (signal?.aborted === true) return Promise.reject(new MeshError("ERR_ABORTED", "aborted"));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = null;
        reject(new MeshError("ERR_ABORTED", "aborted while waiting for a run"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiter = {
        resolve: (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        },
        reject: (e: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
    });
  }

  /** Makes every pending and future next() reject (a peer vanished, a stage failed). */
  fail(error: MeshError): void {
    if (this.#failed !== null) return;
    this.#failed = error;
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(error);
  }

  // --- internals ---

  #take(): RunOutcome | null {
    const oldest = this.#outstanding[0];
    const outcome = oldest === undefined ? null : (this.#runs.get(oldest)?.outcome ?? null);
    if (outcome === null || oldest === undefined) return null;
    this.#outstanding.shift();
    this.#runs.delete(oldest);
    return outcome;
  }

  #jitter(): number {
    return this.#o.hopJitterMs > 0 ? this.#rng() * this.#o.hopJitterMs : 0;
  }

  /** Sends on link i (0: head→stage 0, i: stage i-1→stage i, n: tail→head), FIFO per link. */
  #send(i: number, bytes: number, onArrive: () => void): void {
    const link = this.#links[i]!;
    const now = this.#clock.now();
    const txMs = Number.isFinite(this.#o.bandwidthMbps)
      ? (bytes * 8) / (this.#o.bandwidthMbps * 1000)
      : 0;
    const start = Math.max(now, link.freeAtMs);
    link.freeAtMs = start + txMs;
    const at = Math.max(link.freeAtMs + link.latencyMs + this.#jitter(), link.lastArrivalMs);
    link.lastArrivalMs = at;
    this.#clock.after(at - now, onArrive);
  }

  #arrive(i: number, msg: StageMsg): void {
    this.#state[i]!.queue.push(msg);
    this.#pump(i);
  }

  #forward(i: number, msg: StageMsg, bytes: number): void {
    if (i + 1 < this.stages.length) this.#send(i + 1, bytes, () => this.#arrive(i + 1, msg));
  }

  #pump(i: number): void {
    const st = this.#state[i]!;
    const stage = this.stages[i]!;
    while (!st.busy && this.#failed === null) {
      const msg = st.queue.shift();
      if (msg === undefined) return;
      if (msg.kind === "kv") {
        const applied = this.#guard(i, () => {
          stage.cache.apply(msg.op);
          return true;
        });
        if (applied === undefined) return;
        this.#forward(i, msg, this.#o.markerBytes);
      } else if (msg.kind === "skip" || st.cancelled.has(msg.runId)) {
        this.#skip(i, msg.runId);
      } else {
        const run = this.#guard(i, () => stage.begin(msg.batch));
        if (run === undefined) return;
        st.busy = true;
        this.#compute(i, msg.runId, msg.batch, run);
      }
    }
  }

  #skip(i: number, runId: number): void {
    if (i + 1 < this.stages.length) this.#forward(i, { kind: "skip", runId }, this.#o.markerBytes);
    else this.#send(this.stages.length, this.#o.markerBytes, () => this.#deliver(runId, null));
  }

  #compute(i: number, runId: number, batch: StageBatch, run: ToyStageRun): void {
    const st = this.#state[i]!;
    const model = Array.isArray(this.#o.compute) ? this.#o.compute[i]! : this.#o.compute;
    const rows = batch.positions.length;
    const u = this.#o.computeJitter > 0 ? this.#rng() * 2 - 1 : 0;
    const totalMs =
      (model.baseMs + model.perExtraRowMs * (rows - 1)) * (1 + this.#o.computeJitter * u);
    const steps = Math.max(1, this.#o.stepsPerStage ?? run.layers);
    const stepMs = totalMs / steps;
    const record = this.#runs.get(runId);
    let step = 0;
    const tick = (): void => {
      if (this.#failed !== null) return;
      step++;
      st.busyMs += stepMs;
      this.stats.stageBusyMs[i]! += stepMs;
      if (record !== undefined) record.computeMs += stepMs;
      if (st.cancelled.has(runId)) {
        run.abort();
        this.stats.abortedMidRun++;
        st.busy = false;
        this.#skip(i, runId);
        this.#pump(i);
        return;
      }
      const target = Math.floor((step * run.layers) / steps);
      while (run.done < target) run.step();
      if (step < steps) {
        this.#clock.after(stepMs, tick);
        return;
      }
      const res = this.#guard(i, () => run.finish());
      if (res === undefined) return;
      st.busy = false;
      if (i + 1 < this.stages.length) {
        const next: StageBatch = { ...batch, tokens: undefined, hidden: res.hidden };
        this.#forward(i, { kind: "run", runId, batch: next }, rows * this.#o.activationBytesPerRow);
      } else {
        const logitsRows = batch.logitsRows?.length ?? 0;
        const vocab = this.stages[i]!.model.spec.vocabSize;
        const bytes = batch.outputRows.length * this.#o.resultBytesPerRow + logitsRows * vocab * 4;
        this.#send(this.stages.length, bytes, () => this.#deliver(runId, res));
      }
      this.#pump(i);
    };
    this.#clock.after(stepMs, tick);
  }

  #deliver(runId: number, result: StageResult | null): void {
    const record = this.#runs.get(runId);
    if (record === undefined) return;
    if (result === null) this.stats.skippedOutcomes++;
    this.log.push({
      atMs: this.#clock.now(),
      type: "outcome",
      runId,
      status: result === null ? "skipped" : "done",
    });
    record.outcome =
      result === null
        ? { runId, status: "skipped", stageComputeMs: record.computeMs }
        : {
            runId,
            status: "done",
            outputs: result.outputs ?? [],
            stageComputeMs: record.computeMs,
          };
    if (this.#waiter !== null && this.#outstanding[0] === runId) {
      const w = this.#waiter;
      this.#waiter = null;
      const o = this.#take();
      if (o !== null) w.resolve(o);
    }
  }

  /** Runs a stage action; a toy stage error fails the pipeline as ERR_STAGE_FAILED (returns undefined). */
  #guard<T>(i: number, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      this.fail(new MeshError("ERR_STAGE_FAILED", `stage ${i}: ${String(e)}`, { cause: e }));
      return undefined;
    }
  }
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
