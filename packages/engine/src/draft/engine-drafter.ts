// EngineDrafter: a draft model on any full-model LayerShard (CPU or WebGPU), implementing the mesh's
// Drafter port structurally (DraftModel). It keeps a prefix trie of the contexts it has seen; each cached
// branch owns a sequence id of the shard's KV cache (seq 0 = the accepted prefix), so a context that extends
// a cached one costs only its new tokens, and every context's new tokens go through one batched run.
// Predictions equal a from-scratch run bit for bit (KV batch invariance + newest-wins). See kv-plan.ts.

import { EngineError, throwIfAborted } from "../errors.ts";
import { checkDraftContext } from "./draft-checks.ts";
import { CANONICAL_SEQ, type KvOp, type LayerShard } from "../model/batch.ts";
import { SerialQueue } from "../model/serial-queue.ts";
import type { DraftModel, DraftOptions, DraftPrediction } from "./draft-model.ts";
import { runDraftRows } from "./draft-rows.ts";
import {
  evictionSpan,
  isCanonical,
  KV_CANONICAL,
  KV_SHARED,
  ownerSeqBelow,
  planRun,
  type KvNode,
  type KvPlan,
} from "./kv-plan.ts";
import { cachedPrediction, PrefixCache } from "./prefix-cache.ts";
import { SeqPool } from "./seq-pool.ts";

export const DEFAULT_DRAFT_MAX_BATCH_ROWS = 512;

export interface EngineDrafterOptions {
  /** The draft model's context limit (config.maxPositions); longer contexts are ERR_CONTEXT_LENGTH. */
  maxPositions?: number | undefined;
  /** Rows per shard run; more new tokens than this (a long prompt) take several runs. Default 512. */
  maxBatchRows?: number | undefined;
  /** Trie nodes kept without KV (their predictions stay cached) before the oldest go. Default 4096. */
  maxStatelessNodes?: number | undefined;
}

/** Counters since construction, and the cache's current occupancy. */
export interface EngineDrafterStats {
  /** Shard runs. */
  runs: number;
  /** Tokens computed into the KV cache. */
  newTokens: number;
  /** Cached tokens run again because their prediction was missing (dropped, or asked with more). */
  rerunTokens: number;
  /** Contexts answered from the cache without running anything. */
  cachedPredictions: number;
  /** Branches dropped to make room. */
  evictions: number;
  cellsUsed: number;
  seqsUsed: number;
  /** Tokens in the canonical sequence (committed by accept). */
  canonicalTokens: number;
  trieNodes: number;
}

export class EngineDrafter implements DraftModel {
  readonly vocabSize: number;
  readonly #shard: LayerShard;
  readonly #maxPositions: number;
  readonly #maxRows: number;
  readonly #maxStateless: number;
  readonly #cache: PrefixCache<number>;
  readonly #seqs: SeqPool;
  /** Owner leaves by sequence id. */
  readonly #owners = new Map<number, KvNode>();
  readonly #queue = new SerialQueue();
  /** The deepest canonical node (its path is in sequence 0). */
  #canonical: KvNode;
  #cellsUsed = 0;
  /** A KV op failed mid-way: the next call clears the cache before anything else. */
  #dirty = false;
  #destroyed = false;
  readonly #counts = { runs: 0, newTokens: 0, rerunTokens: 0, cachedPredictions: 0, evictions: 0 };

  /** Takes ownership of `shard` (destroy() destroys it); the shard must embed and hold the head. */
  constructor(shard: LayerShard, options: EngineDrafterOptions = {}) {
    const { info } = shard;
    if (!info.embeds || !info.tail || info.layerStart !== 0) {
      throw new EngineError(
        "ERR_BATCH_INVALID",
        `a drafter needs the whole model in one shard (embeddings, every layer, head); got layers [${info.layerStart}, ${info.layerEnd}) embeds=${info.embeds} head=${info.tail}`,
      );
    }
    this.#shard = shard;
    this.vocabSize = info.vocabSize;
    this.#maxPositions = options.maxPositions ?? Number.MAX_SAFE_INTEGER;
    this.#maxRows = options.maxBatchRows ?? DEFAULT_DRAFT_MAX_BATCH_ROWS;
    this.#maxStateless = options.maxStatelessNodes ?? 4096;
    this.#cache = new PrefixCache<number>({ maxStatelessNodes: this.#maxStateless });
    this.#seqs = new SeqPool(info.maxSeqs);
    this.#canonical = this.#cache.root;
  }

  stats(): EngineDrafterStats {
    return {
      ...this.#counts,
      cellsUsed: this.#cellsUsed,
      seqsUsed: this.#seqs.usedCount,
      canonicalTokens: this.#canonical.depth,
      trieNodes: this.#cache.size,
    };
  }

  predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]> {
    return this.#queue.push(() => this.#predict(contexts, options, signal));
  }

  accept(accepted: Int32Array): Promise<void> {
    return this.#queue.push(() => this.#accept(accepted));
  }

  reset(): Promise<void> {
    return this.#queue.push(async () => {
      this.#checkAlive();
      await this.#clearAll();
    });
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#cache.clear();
    this.#owners.clear();
    await this.#shard.destroy();
  }

  // --- predict ---

  async #predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal: AbortSignal | undefined,
  ): Promise<DraftPrediction[]> {
    this.#checkAlive();
    throwIfAborted(signal, "the draft");
    const { topK } = options;
    if (!Number.isInteger(topK) || topK < 1) {
      throw new EngineError("ERR_BATCH_INVALID", `topK must be a positive integer, got ${topK}`);
    }
    const k = Math.min(topK, this.vocabSize);
    const wantProbs = options.wantProbs === true;
    contexts.forEach((c, i) =>
      checkDraftContext(c, `context ${i}`, this.#maxPositions, this.vocabSize),
    );
    await this.#repair();
    const tick = this.#cache.nextTick();
    const ends = contexts.map((c) => this.#cache.insert(c));
    for (const end of ends) this.#cache.touch(end, isCanonical);
    const pending = [...new Set(ends)].filter(
      (n) => cachedPrediction(n.prediction, k, wantProbs) === undefined,
    );
    this.#counts.cachedPredictions += ends.filter((n) => !pending.includes(n)).length;
    if (pending.length > 0) await this.#compute(pending, k, wantProbs, signal);
    const out = ends.map((n) => cachedPrediction(n.prediction, k, wantProbs));
    if (this.#cache.size - this.#cellsUsed > this.#maxStateless) {
      this.#cache.compact((n) => n.usedTick === tick);
    }
    return out.map((p, i) => {
      if (p === undefined) throw new EngineError("ERR_INTERNAL", `context ${i} got no prediction`);
      return p;
    });
  }

  async #compute(
    ends: KvNode[],
    k: number,
    wantProbs: boolean,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let plan = planRun(ends, this.#seqs.free);
    for (;;) {
      const shortCells = plan.rows.length > this.#shard.info.kvCells - this.#cellsUsed;
      const shortSeqs = plan.missingSeqs > 0;
      if (!shortCells && !shortSeqs) break;
      if (!(await this.#evictOne(shortCells))) throw this.#fullError(plan);
      plan = planRun(ends, this.#seqs.free);
    }
    for (const s of plan.fresh) this.#seqs.take(s);
    try {
      await this.#kvAll(
        plan.copies.map((c) => ({ op: "seq_cp", src: c.src, dst: c.dst, p0: 0, p1: c.p1 })),
      );
      const onRun = (): void => void this.#counts.runs++;
      const opts = { topK: k, wantProbs, maxBatchRows: this.#maxRows, onRun };
      await runDraftRows(this.#shard, plan.rows, opts, signal);
    } catch (e) {
      await this.#rollback(plan);
      throw e;
    }
    for (const [x, seq] of plan.inherited) {
      this.#owners.delete(seq);
      x.state = KV_SHARED;
    }
    for (const row of plan.rows) {
      if (row.recompute) continue;
      row.node.state = KV_SHARED;
      this.#cellsUsed++;
    }
    for (const [leaf, seq] of plan.owners) {
      leaf.state = seq;
      this.#owners.set(seq, leaf);
    }
    this.#counts.newTokens += plan.rows.length - plan.temporaries.length;
    this.#counts.rerunTokens += plan.temporaries.length;
    await this.#kvAll(plan.temporaries.map((s) => ({ op: "seq_rm", seq: s, p0: 0, p1: -1 })));
    for (const s of plan.temporaries) this.#seqs.release(s);
  }

  /** Undoes a plan whose run failed: its new cells and re-tags go, its fresh ids return to the pool. */
  async #rollback(plan: KvPlan): Promise<void> {
    const ops: KvOp[] = [
      ...plan.fresh.map((s): KvOp => ({ op: "seq_rm", seq: s, p0: 0, p1: -1 })),
      ...plan.inherited.map(([x, s]): KvOp => ({ op: "seq_rm", seq: s, p0: x.depth, p1: -1 })),
    ];
    for (const s of plan.fresh) this.#seqs.release(s);
    await this.#kvAll(ops).catch(() => undefined); // on failure #kvAll marked the cache dirty
  }

  /**
   * Frees the least recently used branch not used by the current request: its whole exclusive tail
   * (releasing its sequence), or only the part below a node the request needs (that node keeps the
   * sequence). When only sequence ids are short, whole releases go first. False when nothing can go.
   */
  async #evictOne(cellsShort: boolean): Promise<boolean> {
    const tick = this.#cache.tick;
    const spans = [...this.#owners.values()]
      .filter((n) => n.usedTick !== tick)
      .sort((a, b) => a.usedTick - b.usedTick || a.depth - b.depth)
      .map((leaf) => evictionSpan(leaf, tick));
    const span = (cellsShort ? undefined : spans.find((x) => !x.trim)) ?? spans[0];
    if (span === undefined) return false;
    const { leaf, top, trim } = span;
    const seq = leaf.state ?? -1;
    const p = top.parent;
    if (trim && p !== null) {
      await this.#kvAll([{ op: "seq_rm", seq, p0: top.depth - 1, p1: -1 }]);
      p.state = seq;
      this.#owners.set(seq, p);
    } else {
      await this.#kvAll([{ op: "seq_rm", seq, p0: 0, p1: -1 }]);
      this.#owners.delete(seq);
      this.#seqs.release(seq);
    }
    for (let n: KvNode | null = leaf; n !== null; n = n.parent) {
      n.state = undefined;
      this.#cellsUsed--;
      if (n === top) break;
    }
    this.#counts.evictions++;
    return true;
  }

  #fullError(plan: KvPlan): EngineError {
    const { kvCells, maxSeqs } = this.#shard.info;
    return new EngineError(
      "ERR_KV_FULL",
      `a draft request needs ${plan.rows.length} KV cells and ${plan.fresh.length + plan.missingSeqs} sequence ids; ` +
        `${kvCells - this.#cellsUsed} of ${kvCells} cells are free (${this.#canonical.depth} hold the accepted context) ` +
        `and ${this.#seqs.freeCount} of ${maxSeqs - 1} sequence ids`,
    );
  }

  // --- accept ---

  async #accept(accepted: Int32Array): Promise<void> {
    this.#checkAlive();
    await this.#repair();
    const a = Int32Array.from(accepted);
    const canon = this.#canonical;
    let lcp = 0;
    const canonTokens = canon.tokens();
    while (lcp < canon.depth && lcp < a.length && canonTokens[lcp] === a[lcp]) lcp++;
    if (lcp < canon.depth) await this.#truncate(lcp);

    // Commit the computed part of `a` beyond the canonical prefix: one re-tag into sequence 0.
    const ops: KvOp[] = [];
    const from = this.#canonical;
    let node = from;
    for (let d = from.depth; d < a.length; d++) {
      const child = node.children.get(a[d] ?? -1);
      if (child?.state === undefined) break;
      node = child;
    }
    if (node !== from) {
      ops.push({
        op: "seq_cp",
        src: ownerSeqBelow(node),
        dst: CANONICAL_SEQ,
        p0: from.depth,
        p1: node.depth,
      });
      for (let n: KvNode | null = node; n !== null && n !== from; n = n.parent) {
        if (n.state !== undefined && n.state > 0) this.#dropOwner(n.state, ops);
        n.state = KV_CANONICAL;
      }
      this.#canonical = node;
    }
    // Drop every branch inconsistent with `a`.
    for (const n of this.#cache.prune(a)) {
      if (n.state !== undefined && n.state > 0) this.#dropOwner(n.state, ops);
      this.#cellsUsed--;
    }
    await this.#kvAll(ops);
    if (this.#cache.size - this.#cellsUsed > this.#maxStateless) this.#cache.compact();
  }

  /** Cuts the canonical prefix to `length` tokens and drops every branch (rare: an edited context). */
  async #truncate(length: number): Promise<void> {
    let canon = this.#canonical;
    while (canon.depth > length && canon.parent !== null) canon = canon.parent;
    for (const n of this.#cache.nodes()) {
      if (n.state !== undefined && !(n.state === KV_CANONICAL && n.depth <= length)) {
        n.state = undefined;
      }
    }
    this.#owners.clear();
    this.#seqs.reset();
    this.#cellsUsed = length;
    this.#canonical = canon;
    await this.#kvAll([
      { op: "seq_keep", seq: CANONICAL_SEQ },
      { op: "seq_rm", seq: CANONICAL_SEQ, p0: length, p1: -1 },
    ]);
  }

  #dropOwner(seq: number, ops: KvOp[]): void {
    ops.push({ op: "seq_rm", seq, p0: 0, p1: -1 });
    this.#owners.delete(seq);
    this.#seqs.release(seq);
  }

  // --- helpers ---

  async #clearAll(): Promise<void> {
    this.#cache.clear();
    this.#owners.clear();
    this.#seqs.reset();
    this.#cellsUsed = 0;
    this.#canonical = this.#cache.root;
    await this.#shard.kv({ op: "clear" });
    this.#dirty = false;
  }

  async #repair(): Promise<void> {
    if (this.#dirty) await this.#clearAll();
  }

  async #kvAll(ops: readonly KvOp[]): Promise<void> {
    // The shard applies ops in issue order; awaiting them together saves round trips to a worker.
    // A failed op leaves the shard's cache unknown: the next call starts from a clear cache.
    try {
      await Promise.all(ops.map((op) => this.#shard.kv(op)));
    } catch (e) {
      this.#dirty = true;
      throw e;
    }
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new EngineError("ERR_DESTROYED", "the drafter was destroyed");
  }
}
