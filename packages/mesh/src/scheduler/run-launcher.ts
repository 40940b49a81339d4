// Launching runs: the prefill chunks, the canonical run after every acceptance (carrying a drafted tree in
// speculative mode and on the governor's synchronous arm), and PipeInfer's chained speculative micro-batches
// drafted at the best chain tip while the head is idle, with the adaptive cutoffs (and, with
// speculateCorrections, sibling micro-batches rooted at the draft's other candidates). Adds each run to the
// run table. It does not read outcomes, verify, commit or cancel; partitions and chain copies go through
// the KV ledger.

import { MeshError } from "../errors.ts";
import type { Drafter, PipelinePort, RunSpec } from "../ports.ts";
import { at } from "./at.ts";
import type { CalibrationTap } from "./calibration-tap.ts";
import type { ResolvedConfig } from "./config.ts";
import { draftTree, type DraftNode, type DraftTree } from "./draft-tree.ts";
import type { GenerationState } from "./generation-state.ts";
import type { SpeculationGovernor } from "./governor.ts";
import type { KvLedger } from "./kv-ledger.ts";
import type { LoopMetrics } from "./loop-metrics.ts";
import { chooseForkTip } from "./correction-forks.ts";
import { chooseTip, type ChainTip, type RunRecord } from "./runs.ts";
import type { ResolvedSampling } from "./sampling.ts";

export type SpeculateResult = "launched" | "interrupted" | "empty" | "blocked";

export interface LauncherDeps {
  state: GenerationState;
  pipeline: Pick<PipelinePort, "launch" | "hasOutcome">;
  drafter: Drafter | null;
  calibration: CalibrationTap | null;
  governor: SpeculationGovernor | null;
  config: ResolvedConfig;
  sampling: ResolvedSampling;
  ledger: KvLedger;
  metrics: LoopMetrics;
  nextRunId: () => number;
  /** The whole context (previous + new tokens). */
  context: readonly number[];
  /** First context index whose KV the stages lack (prefill starts here). */
  prefillFrom: number;
  signal: AbortSignal | undefined;
}

const aborted = (s: AbortSignal | undefined): boolean => s?.aborted === true;

export class RunLauncher {
  readonly #d: LauncherDeps;
  /** Drafts that came back empty since the last acceptance (lowers the cutoffs). */
  #nReject = 0;
  /** The tip whose drafting last came back empty (not retried until something changes). */
  #lastEmptyKey: string | null = null;
  /** Correction forks launched in this generation (never launched twice). */
  readonly #forks = new Set<string>();

  constructor(deps: LauncherDeps) {
    this.#d = deps;
  }

  /** Something was accepted: the cutoffs and the empty-draft memory start over. */
  onAcceptance(): void {
    this.#nReject = 0;
    this.#lastEmptyKey = null;
  }

  /**
   * Launches the prefill of `context` from `from` (default: the request's context from its first position
   * the stages lack) in chunks; the last row of the last chunk gives the next token. After a recovery the
   * whole sequence so far is replayed this way into the replacement pipeline.
   */
  prefill(context: readonly number[] = this.#d.context, from = this.#d.prefillFrom): void {
    const { config, state } = this.#d;
    const prefillFrom = from;
    const L = context.length;
    for (let s = prefillFrom; s < L; s += config.prefillChunkRows) {
      const e = Math.min(L, s + config.prefillChunkRows);
      const rows = e - s;
      const last = e === L;
      this.#launch(
        {
          runId: this.#d.nextRunId(),
          kind: "prefill",
          tokens: Int32Array.from(context.slice(s, e)),
          positions: Int32Array.from({ length: rows }, (_, i) => s + i),
          seqIds: Array.from({ length: rows }, () => [0]),
          outputRows: Int32Array.from(last ? [rows - 1] : []),
          logitsRows: last && !state.greedy ? Int32Array.from([rows - 1]) : undefined,
          topK: 1,
        },
        last ? [rootNode(at(context, L - 1), L - 1)] : [],
        last ? [rows - 1] : [],
      );
    }
    state.canonicalEnd = L;
  }

  /**
   * After an acceptance: the canonical run for the last token, with a drafted tree in speculative mode and
   * in pipeinfer while the governor has chosen synchronous speculation for this pipeline.
   */
  async launchForPending(): Promise<void> {
    const { state, config, governor, drafter, ledger } = this.#d;
    const pos = state.tokens.length - 1;
    const token = at(state.tokens, pos);
    state.canonicalEnd = pos + 1;
    const synchronous =
      config.mode === "speculative" ||
      (config.mode === "pipeinfer" && drafter !== null && governor?.arm === "sync");
    const tree = synchronous ? await this.#draft(state.tokens, this.#cutoff(0), () => false) : null;
    const partition = tree !== null && tree.nodes.length > 0 ? ledger.alloc() : null;
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

  /** Pipeinfer: may another micro-batch be launched now (arm, free partition, in-flight bound)? */
  maySpeculate(): boolean {
    const { config, drafter, ledger, governor, state } = this.#d;
    if (config.mode !== "pipeinfer" || drafter === null || ledger.freePartitions === 0)
      return false;
    if (governor !== null && governor.arm !== "async") return false;
    const active = state.runs.filter((r) => r.kind === "speculative" && !r.cancelled).length;
    return active < config.speculation.maxInFlightRuns;
  }

  /**
   * Drafts one micro-batch at the best chain tip (chooseTip), or at the best correction fork
   * (chooseForkTip) when that is likelier and speculateCorrections is on, and launches it.
   */
  async speculate(): Promise<SpeculateResult> {
    const { state, ledger } = this.#d;
    const tokens = state.tokens;
    const tip = this.#bestTip();
    if (tip === null) return "blocked";
    if (tip.fork !== undefined) return this.#launchFork(tip, tip.fork);
    const { run: from, firstPos, chainStart, prefix, chainDepth } = tip;
    const cutoff = this.#cutoff(chainDepth);
    if (cutoff.accept >= 1) return "blocked";
    const key = `${from?.runId ?? -1}:${tip.branch}:${firstPos}:${cutoff.accept}`;
    if (key === this.#lastEmptyKey) return "blocked";
    const base = [...tokens.slice(0, chainStart), ...prefix];
    const s = this.#d.config.speculation;
    const tree = await this.#draft(
      base,
      cutoff,
      () => this.#d.pipeline.hasOutcome() || aborted(this.#d.signal),
      chainDepth === 0 ? Math.min(s.firstDraftMax, s.draftMax) : s.draftMax,
    );
    if (tree.interrupted) return "interrupted";
    if (tree.nodes.length === 0) {
      this.#nReject++;
      this.#lastEmptyKey = key;
      return "empty";
    }
    const partition = ledger.alloc();
    if (partition === null) return "blocked";
    ledger.copyChain(from, tip.branch, partition, tree.branchCount, chainStart, firstPos);
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

  #bestTip(): ChainTip | null {
    const { state, config } = this.#d;
    const tip = chooseTip(state.runs, state.tokens, state.maxPos);
    if (!config.speculation.speculateCorrections) return tip;
    const fork = chooseForkTip(state.runs, state.tokens, state.maxPos, this.#forks);
    return fork !== null && (tip === null || fork.score > tip.score) ? fork : tip;
  }

  /** A correction fork: its first row is the alternative token, then a tree drafted after it. */
  async #launchFork(tip: ChainTip, fork: NonNullable<ChainTip["fork"]>): Promise<SpeculateResult> {
    const { state, ledger } = this.#d;
    const { firstPos, chainStart, prefix, chainDepth } = tip;
    const cutoff = this.#cutoff(chainDepth);
    if (cutoff.accept >= 1) return "blocked";
    const s = this.#d.config.speculation;
    const rows = chainDepth === 0 ? Math.min(s.firstDraftMax, s.draftMax) : s.draftMax;
    const base = [...state.tokens.slice(0, chainStart), ...prefix, fork.token];
    const tree = await this.#draft(
      base,
      cutoff,
      () => this.#d.pipeline.hasOutcome() || aborted(this.#d.signal),
      rows - 1,
    );
    if (tree.interrupted) return "interrupted";
    const partition = ledger.alloc();
    if (partition === null) return "blocked";
    const branchCount = Math.max(1, tree.branchCount);
    const root: DraftNode = {
      token: fork.token,
      pos: firstPos,
      parent: -1,
      children: [],
      branches: Array.from({ length: branchCount }, (_, b) => b),
      prob: fork.prob,
      rank: fork.rank,
      conf: fork.conf,
    };
    const nodes = [root, ...tree.nodes.map((n) => shiftNode(n, 1))];
    root.children = nodes.flatMap((n, i) => (i > 0 && n.parent === 0 ? [i] : []));
    this.#forks.add(fork.key);
    ledger.copyChain(tip.run, tip.branch, partition, branchCount, chainStart, firstPos);
    const seqIds = nodes.map((nd) => nd.branches.map((b) => partition.firstSeq + b));
    this.#launch(
      this.#spec("speculative", nodes, seqIds),
      nodes,
      nodes.map((_, i) => i),
      {
        rootPos: firstPos,
        chainStart,
        prefix,
        prefixConfs: tip.prefixConfs,
        draftNodes: nodes.map((_, i) => i),
        branchCount,
        partition,
        chainDepth,
        chainedFrom: tip.run?.runId ?? null,
        chainedBranch: tip.branch,
        forkKey: fork.key,
      },
    );
    this.#d.metrics.onForkLaunched();
    return "launched";
  }

  #launch(spec: RunSpec, nodes: DraftNode[], rows: number[], extra: Partial<RunRecord> = {}): void {
    const rootPos = nodes.find((n) => n.parent < 0)?.pos ?? spec.positions[0] ?? 0;
    this.#d.state.runs.push({
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
    this.#d.metrics.onLaunch(spec);
    this.#d.pipeline.launch(spec);
  }

  #spec(kind: RunSpec["kind"], nodes: DraftNode[], seqIds: number[][]): RunSpec {
    const rows = nodes.length;
    return {
      runId: this.#d.nextRunId(),
      kind,
      tokens: Int32Array.from(nodes, (n) => n.token),
      positions: Int32Array.from(nodes, (n) => n.pos),
      seqIds,
      outputRows: Int32Array.from({ length: rows }, (_, i) => i),
      logitsRows: this.#d.state.greedy ? undefined : Int32Array.from({ length: rows }, (_, i) => i),
      topK: 1,
    };
  }

  #cutoff(chainDepth: number): { accept: number; split: number } {
    const s = this.#d.config.speculation;
    const adjust = chainDepth * s.pRecovery - this.#nReject * s.pDecay;
    return { accept: s.pAccept + adjust, split: s.pSplit + adjust };
  }

  #draft(
    base: readonly number[],
    cutoff: { accept: number; split: number },
    shouldYield: () => boolean,
    maxNodes = this.#d.config.speculation.draftMax,
  ): Promise<DraftTree> {
    const { config, signal, calibration, state } = this.#d;
    const drafter = calibration?.drafter ?? this.#d.drafter;
    if (drafter === null) throw new MeshError("ERR_NO_DRAFT", "no drafter");
    const s = config.speculation;
    return draftTree({
      drafter,
      confidence: calibration?.confidence,
      base,
      maxNodes,
      maxBranches: s.draftBranches,
      maxPos: state.maxPos,
      cutoffAccept: cutoff.accept,
      cutoffSplit: cutoff.split,
      topK: s.draftTopK,
      sampling: state.greedy ? undefined : this.#d.sampling,
      shouldYield,
      signal,
    });
  }
}

function rootNode(token: number, pos: number): DraftNode {
  return { token, pos, parent: -1, children: [], branches: [], prob: 1, rank: 0, conf: 1 };
}

function shiftNode(n: DraftNode, by: number): DraftNode {
  return {
    ...n,
    parent: n.parent < 0 ? 0 : n.parent + by,
    children: n.children.map((c) => c + by),
  };
}
