// One generation's head loop (plain, speculative and pipeinfer): prefill, then process outcomes in launch
// order, verify, commit, launch the canonical run for the last accepted token, cancel invalid runs, and
// (pipeinfer) keep launching chained speculative micro-batches while no outcome is waiting. Owns the run
// table and the KV bookkeeping; the public API and cross-generation state live in scheduler.ts.

import { MeshError } from "../errors.ts";
import type { Drafter, PipelinePort, RunSpec, StageRowOutput } from "../ports.ts";
import { acceptFromRun, truncateAcceptance } from "./acceptance.ts";
import { at } from "./at.ts";
import { PredictionLog, type DraftCalibration } from "./calibration.ts";
import type { SpeculationGovernor } from "./governor.ts";
import type { ResolvedConfig } from "./config.ts";
import { draftTree, type DraftNode, type DraftTree } from "./draft-tree.ts";
import { chainCopyOps, commitOp, seqsOf, type PartitionPool } from "./kv-protocol.ts";
import type { MetricsRecorder } from "./metrics.ts";
import { acceptedNodes, chooseTip, matchRun, runsToCancel, type RunRecord } from "./runs.ts";
import type { ResolvedSampling } from "./sampling.ts";
import type { StopMatcher } from "./stop-matcher.ts";

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

export interface LoopParams {
  pipeline: PipelinePort;
  drafter: Drafter | null;
  /** The scheduler's draft calibration (learns and answers at temperature 0); null: raw probabilities. */
  calibration: DraftCalibration | null;
  /** The scheduler's speculation governor (pipeinfer); null: always speculate within the bounds. */
  governor: SpeculationGovernor | null;
  clock: { now(): number };
  config: ResolvedConfig;
  pool: PartitionPool;
  nextRunId: () => number;
  sampling: ResolvedSampling;
  stop: StopMatcher;
  metrics: MetricsRecorder;
  maxTokens: number;
  /** The whole context (previous + new tokens). */
  context: readonly number[];
  /** First context index whose KV the stages lack (prefill starts here). */
  prefillFrom: number;
  signal: AbortSignal | undefined;
  emit: (event: TokenEvent) => void;
}

type SpeculateResult = "launched" | "interrupted" | "empty" | "blocked";

const aborted = (s: AbortSignal | undefined): boolean => s?.aborted === true;

export class GenerationLoop {
  /** Every token of the sequence: context, then generated (a trailing stop token id included). */
  readonly tokens: number[];
  readonly promptLength: number;
  /** Positions [0, canonicalEnd) have canonical KV written or issued. */
  canonicalEnd: number;
  finish: FinishReason | null = null;
  readonly fromDraft: boolean[] = [];
  readonly #p: LoopParams;
  readonly #runs: RunRecord[] = [];
  readonly #greedy: boolean;
  readonly #maxPos: number;
  #nReject = 0;
  /** Launch times of one-row canonical runs, for the governor's plain estimate. */
  readonly #canonicalLaunchMs = new Map<number, number>();
  #lastEmptyKey: string | null = null;
  /** Greedy with calibration: the drafter (recording its predictions) and the calibrated confidence. */
  readonly #calibrated: {
    drafter: Drafter;
    log: PredictionLog;
    confidence: (rank: number, prob: number) => number;
  } | null;

  constructor(params: LoopParams) {
    this.#p = params;
    this.tokens = [...params.context];
    this.promptLength = this.tokens.length;
    this.canonicalEnd = params.prefillFrom;
    this.#greedy = params.sampling.temperature === 0;
    this.#maxPos = Math.min(
      this.promptLength + params.maxTokens - 1,
      params.config.maxContextTokens - 1,
    );
    const { calibration, drafter } = params;
    this.#calibrated =
      calibration === null || drafter === null || !this.#greedy
        ? null
        : recordingDrafter(drafter, calibration);
  }

  /** Runs to a finish reason. Pipeline failures reject; an abort ends with finish = "abort". */
  async run(): Promise<void> {
    this.#p.governor?.beginGeneration();
    this.#prefill();
    const { pipeline, signal } = this.#p;
    try {
      while (this.finish === null) {
        if (aborted(signal)) break;
        if (pipeline.hasOutcome()) {
          await this.#processNext();
          continue;
        }
        if (this.#maySpeculate()) {
          const r = await this.#speculate();
          if (r === "launched" || r === "interrupted") continue;
        }
        await this.#processNext();
      }
    } catch (e) {
      if (!aborted(signal)) throw e;
    }
    if (this.finish === null) this.finish = "abort";
  }

  /**
   * After the end: cancels what is left, frees every partition, and consumes the outstanding outcomes so
   * the stages hold exactly canonical [0, canonicalEnd) afterwards. Never waits on the caller's signal.
   */
  async drain(): Promise<void> {
    const ids = this.#runs.filter(
      (r) => r.kind === "speculative" && !r.cancelled && r.draftNodes.length === r.nodes.length,
    );
    for (const r of ids) r.cancelled = true;
    if (ids.length > 0) {
      this.#p.pipeline.cancel(ids.map((r) => r.runId));
      this.#p.metrics.runsCancelled += ids.length;
    }
    for (const r of this.#runs) this.#release(r);
    while (this.#runs.length > 0) {
      await this.#p.pipeline.next();
      this.#runs.shift();
    }
  }

  // --- launching ---

  #prefill(): void {
    const { context, prefillFrom, config } = this.#p;
    const L = context.length;
    for (let s = prefillFrom; s < L; s += config.prefillChunkRows) {
      const e = Math.min(L, s + config.prefillChunkRows);
      const rows = e - s;
      const last = e === L;
      this.#launch(
        {
          runId: this.#p.nextRunId(),
          kind: "prefill",
          tokens: Int32Array.from(context.slice(s, e)),
          positions: Int32Array.from({ length: rows }, (_, i) => s + i),
          seqIds: Array.from({ length: rows }, () => [0]),
          outputRows: Int32Array.from(last ? [rows - 1] : []),
          logitsRows: last && !this.#greedy ? Int32Array.from([rows - 1]) : undefined,
          topK: 1,
        },
        last ? [rootNode(at(context, L - 1), L - 1)] : [],
        last ? [rows - 1] : [],
      );
    }
    this.canonicalEnd = L;
  }

  #launch(spec: RunSpec, nodes: DraftNode[], rows: number[], extra: Partial<RunRecord> = {}): void {
    const rootPos = nodes.find((n) => n.parent < 0)?.pos ?? spec.positions[0] ?? 0;
    this.#runs.push({
      runId: spec.runId,
      kind: spec.kind,
      rootPos,
      chainStart: rootPos,
      prefix: [],
      prefixConfs: [],
      nodes,
      rows,
      draftNodes: [],
      branchCount: 0,
      partition: null,
      chainDepth: 0,
      chainedFrom: null,
      chainedBranch: 0,
      cancelled: false,
      ...extra,
    });
    this.#p.metrics.runsLaunched++;
    if (spec.kind === "speculative") this.#p.metrics.speculativeRunsLaunched++;
    if (spec.kind === "canonical" && spec.tokens.length === 1 && this.#p.governor !== null)
      this.#canonicalLaunchMs.set(spec.runId, this.#p.clock.now());
    this.#p.pipeline.launch(spec);
  }

  /**
   * After an acceptance: the canonical run for the last token, with a drafted tree in speculative mode and
   * in pipeinfer while the governor has chosen synchronous speculation for this pipeline.
   */
  async #launchForPending(): Promise<void> {
    const pos = this.tokens.length - 1;
    const token = at(this.tokens, pos);
    this.canonicalEnd = pos + 1;
    const { config, governor, drafter } = this.#p;
    const synchronous =
      config.mode === "speculative" ||
      (config.mode === "pipeinfer" && drafter !== null && governor?.arm === "sync");
    const tree = synchronous ? await this.#draft(this.tokens, this.#cutoff(0), () => false) : null;
    const partition = tree !== null && tree.nodes.length > 0 ? this.#p.pool.alloc() : null;
    if (tree === null || partition === null) {
      if (tree !== null && tree.nodes.length === 0) this.#nReject++;
      this.#launch(
        this.#spec("canonical", [rootNode(token, pos)], [[0]]),
        [rootNode(token, pos)],
        [0],
      );
      return;
    }
    // Synchronous speculation: one run = the pending token (canonical row, seq 0) + the drafted tree.
    const nodes = [rootNode(token, pos), ...tree.nodes.map((n) => shiftNode(n, 1))];
    at(nodes, 0).children = nodes.flatMap((n, i) => (i > 0 && n.parent === 0 ? [i] : []));
    const seqIds = nodes.map((n, i) =>
      i === 0 ? [0] : n.branches.map((b) => partition.firstSeq + b),
    );
    this.#launch(
      this.#spec("speculative", nodes, seqIds),
      nodes,
      nodes.map((_, i) => i),
      {
        draftNodes: nodes.map((_, i) => i).slice(1),
        branchCount: tree.branchCount,
        partition,
      },
    );
  }

  #spec(kind: RunSpec["kind"], nodes: DraftNode[], seqIds: number[][]): RunSpec {
    const rows = nodes.length;
    return {
      runId: this.#p.nextRunId(),
      kind,
      tokens: Int32Array.from(nodes, (n) => n.token),
      positions: Int32Array.from(nodes, (n) => n.pos),
      seqIds,
      outputRows: Int32Array.from({ length: rows }, (_, i) => i),
      logitsRows: this.#greedy ? undefined : Int32Array.from({ length: rows }, (_, i) => i),
      topK: 1,
    };
  }

  #maySpeculate(): boolean {
    const { config, drafter, pool } = this.#p;
    if (config.mode !== "pipeinfer" || drafter === null || pool.freeCount === 0) return false;
    if (this.#p.governor !== null && this.#p.governor.arm !== "async") return false;
    const active = this.#runs.filter((r) => r.kind === "speculative" && !r.cancelled).length;
    return active < config.speculation.maxInFlightRuns;
  }

  /** Drafts one micro-batch at the best chain tip (chooseTip) and launches it. */
  async #speculate(): Promise<SpeculateResult> {
    const tokens = this.tokens;
    const tip = chooseTip(this.#runs, tokens, this.#maxPos);
    if (tip === null) return "blocked";
    const { run: from, firstPos, chainStart, prefix, chainDepth } = tip;
    const cutoff = this.#cutoff(chainDepth);
    if (cutoff.accept >= 1) return "blocked";
    const key = `${from?.runId ?? -1}:${tip.branch}:${firstPos}:${cutoff.accept}`;
    if (key === this.#lastEmptyKey) return "blocked";
    const base = [...tokens.slice(0, chainStart), ...prefix];
    const s = this.#p.config.speculation;
    const tree = await this.#draft(
      base,
      cutoff,
      () => this.#p.pipeline.hasOutcome() || aborted(this.#p.signal),
      chainDepth === 0 ? Math.min(s.firstDraftMax, s.draftMax) : s.draftMax,
    );
    if (tree.interrupted) return "interrupted";
    if (tree.nodes.length === 0) {
      this.#nReject++;
      this.#lastEmptyKey = key;
      return "empty";
    }
    const partition = this.#p.pool.alloc();
    if (partition === null) return "blocked";
    const seqs = seqsOf(partition, tree.branchCount);
    if (from?.partition != null) {
      const src = from.partition.firstSeq + tip.branch;
      for (const op of chainCopyOps(src, seqs, chainStart, firstPos)) this.#p.pipeline.kv(op);
    }
    const seqIds = tree.nodes.map((nd) => nd.branches.map((b) => partition.firstSeq + b));
    this.#launch(
      this.#spec("speculative", tree.nodes, seqIds),
      tree.nodes,
      tree.nodes.map((_, i) => i),
      {
        rootPos: firstPos,
        chainStart,
        prefix,
        prefixConfs: tip.prefixConfs,
        draftNodes: tree.nodes.map((_, i) => i),
        branchCount: tree.branchCount,
        partition,
        chainDepth,
        chainedFrom: from?.runId ?? null,
        chainedBranch: tip.branch,
      },
    );
    return "launched";
  }

  #cutoff(chainDepth: number): { accept: number; split: number } {
    const s = this.#p.config.speculation;
    const adjust = chainDepth * s.pRecovery - this.#nReject * s.pDecay;
    return { accept: s.pAccept + adjust, split: s.pSplit + adjust };
  }

  #draft(
    base: readonly number[],
    cutoff: { accept: number; split: number },
    shouldYield: () => boolean,
    maxNodes = this.#p.config.speculation.draftMax,
  ): Promise<DraftTree> {
    const { config, signal } = this.#p;
    const drafter = this.#calibrated?.drafter ?? this.#p.drafter;
    if (drafter === null) throw new MeshError("ERR_NO_DRAFT", "no drafter");
    const s = config.speculation;
    return draftTree({
      drafter,
      confidence: this.#calibrated?.confidence,
      base,
      maxNodes,
      maxBranches: s.draftBranches,
      maxPos: this.#maxPos,
      cutoffAccept: cutoff.accept,
      cutoffSplit: cutoff.split,
      topK: s.draftTopK,
      sampling: this.#greedy ? undefined : this.#p.sampling,
      shouldYield,
      signal,
    });
  }

  // --- outcomes ---

  async #processNext(): Promise<void> {
    if (this.#runs.length === 0)
      throw new MeshError("ERR_INTERNAL", "no run in flight but generation not finished");
    const outcome = await this.#p.pipeline.next(this.#p.signal);
    const run = this.#runs.shift();
    if (run?.runId !== outcome.runId) {
      throw new MeshError(
        "ERR_INTERNAL",
        `outcome for run ${outcome.runId}, expected ${run?.runId}`,
      );
    }
    const metrics = this.#p.metrics;
    const launchedMs = this.#canonicalLaunchMs.get(run.runId);
    if (launchedMs !== undefined) {
      this.#canonicalLaunchMs.delete(run.runId);
      if (outcome.status === "done")
        this.#p.governor?.observeCanonical(
          this.#p.clock.now() - launchedMs,
          waitOf(outcome.stageTimesMs),
        );
    }
    if (run.cancelled) return metrics.onOutcome(outcome.stageComputeMs, true);
    if (outcome.status === "skipped") {
      if (run.kind !== "speculative" || run.draftNodes.length !== run.nodes.length) {
        throw new MeshError(
          "ERR_STAGE_FAILED",
          `${run.kind} run ${run.runId} came back skipped; canonical KV is incomplete`,
        );
      }
      this.#release(run);
      return metrics.onOutcome(outcome.stageComputeMs, true);
    }
    const m = matchRun(run, this.tokens);
    if (m.kind !== "useful") {
      this.#release(run);
      return metrics.onOutcome(outcome.stageComputeMs, run.kind === "speculative");
    }
    metrics.onOutcome(outcome.stageComputeMs, false);
    await this.#verify(run, m.anchor, outcome.outputs);
  }

  /** Verifies from the anchor (the run's row at the frontier), appends tokens, commits, relaunches. */
  async #verify(run: RunRecord, anchor: number, outputs: readonly StageRowOutput[]): Promise<void> {
    const { metrics, stop, clock } = this.#p;
    const nOld = this.tokens.length;
    const firstIndex = stop.tokens.length;
    const event: TokenEvent = { tokens: [], fromDraft: [], index: firstIndex, timeMs: clock.now() };
    let text = "";
    const walk = acceptFromRun(run, outputs, this.#p.sampling, {
      accepted: this.tokens,
      anchor,
      others: this.#runs,
    });
    let taken = 0;
    for (const token of walk.tokens) {
      const fromDraft = walk.fromDraft[taken] ?? false;
      taken++;
      this.#observe(token);
      this.tokens.push(token);
      const step = stop.push(token);
      text += step.textDelta;
      if (step.keep) {
        event.tokens.push(token);
        event.fromDraft.push(fromDraft);
        this.fromDraft.push(fromDraft);
        metrics.tokenTimesMs.push(clock.now());
      }
      if (step.stop) this.finish = "stop";
      else if (
        stop.tokens.length >= this.#p.maxTokens ||
        this.tokens.length >= this.#p.config.maxContextTokens
      ) {
        this.finish = "length";
      }
      if (this.finish !== null) break;
    }
    const lastDraft = truncateAcceptance(walk, taken).lastDraftNode;
    if (run.kind === "speculative") {
      metrics.draftTokensVerified += run.draftNodes.length;
      metrics.draftTokensAccepted += acceptedNodes(run, this.tokens).filter((i) =>
        run.draftNodes.includes(i),
      ).length;
    }
    metrics.acceptanceEvents++;
    if (lastDraft >= 0 && run.partition !== null) {
      const node = at(run.nodes, lastDraft);
      const end = node.pos + 1;
      this.#p.pipeline.kv(commitOp(run.partition.firstSeq + at(node.branches, 0), nOld, end));
      this.canonicalEnd = Math.max(this.canonicalEnd, end);
    }
    this.#release(run);
    this.#nReject = 0;
    this.#lastEmptyKey = null;
    if (this.finish !== null) text += stop.finish();
    this.#p.governor?.onTokens(event.tokens.length, clock.now());
    if (event.tokens.length > 0 || text.length > 0) {
      this.#p.emit({ ...event, ...(text.length > 0 || this.#hasText() ? { text } : {}) });
    }
    if (this.finish !== null) return;
    await this.#launchForPending();
    this.#cancelInvalid();
    if (this.#p.config.mode !== "plain")
      await this.#p.drafter?.accept(Int32Array.from(this.tokens));
  }

  /** Calibration: the target's token at position tokens.length against the draft's prediction there. */
  #observe(token: number): void {
    const c = this.#calibrated;
    if (c === null) return;
    const n = this.tokens.length;
    const pred = c.log.take(this.tokens, n);
    if (pred !== undefined) this.#p.calibration?.observePrediction(pred, token);
    c.log.prune(n);
  }

  #hasText(): boolean {
    return this.#p.stop.text !== undefined;
  }

  /** Cancels (over the network) and frees every run runsToCancel picks. */
  #cancelInvalid(): void {
    const dead = runsToCancel(this.#runs, this.tokens);
    if (dead.length === 0) return;
    for (const r of dead) r.cancelled = true;
    this.#p.pipeline.cancel(dead.map((r) => r.runId));
    this.#p.metrics.runsCancelled += dead.length;
    for (const r of dead) this.#release(r);
  }

  #release(run: RunRecord): void {
    if (run.partition === null) return;
    for (const op of this.#p.pool.release(run.partition, run.branchCount)) this.#p.pipeline.kv(op);
    run.partition = null;
  }
}

/** Total queueing of a run over the stages it passed ([waitMs, computeMs] pairs). */
function waitOf(times: readonly number[] | undefined): number {
  let w = 0;
  if (times !== undefined) for (let i = 0; i < times.length; i += 2) w += times[i] ?? 0;
  return w;
}

function rootNode(token: number, pos: number): DraftNode {
  return { token, pos, parent: -1, children: [], branches: [], prob: 1, rank: 0, conf: 1 };
}

/** A drafter view that logs every prediction by context, for calibration once the target has spoken. */
function recordingDrafter(
  inner: Drafter,
  calibration: DraftCalibration,
): { drafter: Drafter; log: PredictionLog; confidence: (rank: number, prob: number) => number } {
  const log = new PredictionLog();
  const drafter: Drafter = {
    vocabSize: inner.vocabSize,
    async predict(contexts, options, signal) {
      const preds = await inner.predict(contexts, options, signal);
      preds.forEach((p, i) => {
        const ctx = contexts[i];
        if (ctx !== undefined) log.record(ctx, p);
      });
      return preds;
    },
    accept: (accepted) => inner.accept(accepted),
    reset: () => inner.reset(),
    destroy: () => inner.destroy(),
  };
  return { drafter, log, confidence: (r, p) => calibration.confidence(r, p) };
}

function shiftNode(n: DraftNode, by: number): DraftNode {
  return {
    ...n,
    parent: n.parent < 0 ? 0 : n.parent + by,
    children: n.children.map((c) => c + by),
  };
}
