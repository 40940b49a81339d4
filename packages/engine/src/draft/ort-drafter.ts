// OrtDrafter: a draft model on an ONNX causal LM with KV-cache inputs and outputs (onnxruntime-web, wasm
// or WebGPU), implementing the mesh's Drafter port structurally (DraftModel). Its prefix trie keeps one
// KvBlob per cached token path, shared by every node on it: extending a path passes its blob as the past;
// branching from an inner node copies that node's prefix (fork); accept drops the inconsistent branches
// (rollback) and keeps the accepted prefix's K/V. Segments with equal shapes may share one session run.

import { EngineError, throwIfAborted } from "../errors.ts";
import { checkDraftContext } from "./draft-checks.ts";
import { softmaxRef, topKRef } from "../kernels/reference.ts";
import { SerialQueue } from "../model/serial-queue.ts";
import type { DraftModel, DraftOptions, DraftPrediction } from "./draft-model.ts";
import { splitPresent, stackKv, type KvBlob } from "./ort-kv.ts";
import { groupSegments, planWave, type OrtNode, type Segment } from "./ort-plan.ts";
import type { DraftSession } from "./ort-session.ts";
import { cachedPrediction, mergePrediction, PrefixCache } from "./prefix-cache.ts";

export const DEFAULT_ORT_MAX_BATCH_ROWS = 16;
export const DEFAULT_ORT_MAX_CHUNK_TOKENS = 256;
export const DEFAULT_ORT_MAX_KV_BYTES = 512 * 1024 * 1024;
/** Logits of one run are kept under this size: long prompts run in chunks. */
const MAX_LOGITS_BYTES = 64 * 1024 * 1024;

export interface OrtDrafterOptions {
  /** The draft model's context limit; longer contexts are ERR_CONTEXT_LENGTH. */
  maxPositions?: number | undefined;
  /** Run segments of equal shape (past length, new tokens) in one session run. Default true. */
  batchContexts?: boolean | undefined;
  /** Most rows of one batched run. Default 16. */
  maxBatchRows?: number | undefined;
  /** Most new tokens of one run (a long prompt takes several). Default 256, less for a big vocabulary. */
  maxChunkTokens?: number | undefined;
  /** K/V kept across calls; beyond it the least recently used branches go. Default 512 MiB. */
  maxKvBytes?: number | undefined;
  /** Trie nodes kept without K/V (their predictions stay cached) before the oldest go. Default 4096. */
  maxStatelessNodes?: number | undefined;
}

export interface OrtDrafterStats {
  /** Session runs. */
  runs: number;
  /** Runs that carried more than one context. */
  batchedRuns: number;
  /** Tokens whose K/V was computed and kept. */
  newTokens: number;
  /** Cached tokens run again for a missing prediction. */
  rerunTokens: number;
  /** Contexts answered from the cache without running anything. */
  cachedPredictions: number;
  /** Blobs dropped to stay under maxKvBytes. */
  evictions: number;
  /** Bytes of K/V held (views into one batched run's buffer count their own part). */
  kvBytes: number;
  blobs: number;
  trieNodes: number;
}

export class OrtDrafter implements DraftModel {
  readonly vocabSize: number;
  readonly #session: DraftSession;
  readonly #maxPositions: number;
  readonly #batch: boolean;
  readonly #maxRows: number;
  readonly #maxChunk: number;
  readonly #maxKvBytes: number;
  readonly #maxStateless: number;
  readonly #cache: PrefixCache<KvBlob>;
  readonly #queue = new SerialQueue();
  /** Live blobs and the deepest node of the path each was computed for. */
  readonly #tips = new Map<KvBlob, OrtNode>();
  #kvBytes = 0;
  /** The accepted context's node. */
  #accepted: OrtNode;
  #destroyed = false;
  readonly #counts = {
    runs: 0,
    batchedRuns: 0,
    newTokens: 0,
    rerunTokens: 0,
    cachedPredictions: 0,
    evictions: 0,
  };

  /** Takes ownership of `session` (destroy() releases it). */
  constructor(session: DraftSession, options: OrtDrafterOptions = {}) {
    this.#session = session;
    this.vocabSize = session.info.vocabSize;
    this.#maxPositions = options.maxPositions ?? Number.MAX_SAFE_INTEGER;
    this.#batch = options.batchContexts ?? true;
    this.#maxRows = Math.max(1, options.maxBatchRows ?? DEFAULT_ORT_MAX_BATCH_ROWS);
    const logitsCap = Math.max(16, Math.floor(MAX_LOGITS_BYTES / (4 * this.vocabSize)));
    this.#maxChunk = Math.max(
      1,
      options.maxChunkTokens ?? Math.min(DEFAULT_ORT_MAX_CHUNK_TOKENS, logitsCap),
    );
    this.#maxKvBytes = options.maxKvBytes ?? DEFAULT_ORT_MAX_KV_BYTES;
    this.#maxStateless = options.maxStatelessNodes ?? 4096;
    this.#cache = new PrefixCache<KvBlob>({ maxStatelessNodes: this.#maxStateless });
    this.#accepted = this.#cache.root;
  }

  /** The context limit given at construction (MAX_SAFE_INTEGER when none). */
  get maxPositions(): number {
    return this.#maxPositions;
  }

  /** Where the model runs ("wasm", "webgpu"). */
  get executionProvider(): string {
    return this.#session.info.executionProvider;
  }

  stats(): OrtDrafterStats {
    return {
      ...this.#counts,
      kvBytes: this.#kvBytes,
      blobs: this.#tips.size,
      trieNodes: this.#cache.size,
    };
  }

  /**
   * The blobs and K/V bytes the trie's nodes actually reference, by walking it (O(nodes)); equal to
   * stats().blobs and stats().kvBytes unless the bookkeeping leaks. For tests and diagnostics.
   */
  audit(): { blobs: number; kvBytes: number } {
    const seen = new Set<KvBlob>();
    for (const n of this.#cache.nodes()) if (n.state !== undefined) seen.add(n.state);
    let kvBytes = 0;
    for (const b of seen) kvBytes += b.sizeBytes;
    return { blobs: seen.size, kvBytes };
  }

  predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]> {
    return this.#queue.push(() => this.#predict(contexts, options, signal));
  }

  accept(accepted: Int32Array): Promise<void> {
    return this.#queue.push(() => {
      this.#checkAlive();
      for (const n of this.#cache.prune(accepted)) this.#release(n);
      this.#accepted = this.#cache.insert(accepted);
      this.#rehomeAccepted();
      this.#compact();
    });
  }

  reset(): Promise<void> {
    return this.#queue.push(() => {
      this.#checkAlive();
      this.#clear();
    });
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#clear();
    await this.#session.release();
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
    const tick = this.#cache.nextTick();
    const ends = contexts.map((c) => this.#cache.insert(c));
    for (const end of ends) this.#cache.touch(end);
    const missing = (n: OrtNode): boolean =>
      cachedPrediction(n.prediction, k, wantProbs) === undefined;
    const pending = new Set(ends.filter(missing));
    this.#counts.cachedPredictions += ends.length - ends.filter((n) => pending.has(n)).length;
    try {
      while (pending.size > 0) {
        const wave = planWave(pending).map((s) => this.#chunk(s));
        if (wave.length === 0)
          throw new EngineError("ERR_INTERNAL", "a draft wave planned nothing");
        for (const group of groupSegments(wave, this.#batch, this.#maxRows)) {
          throwIfAborted(signal, "the draft");
          await this.#runGroup(group, k, wantProbs, tick);
        }
        for (const n of [...pending]) if (!missing(n)) pending.delete(n);
      }
    } finally {
      this.#evict(ends, tick);
      this.#compact();
    }
    return ends.map((n, i) => {
      const p = cachedPrediction(n.prediction, k, wantProbs);
      if (p === undefined) throw new EngineError("ERR_INTERNAL", `context ${i} got no prediction`);
      return p;
    });
  }

  /** A segment cut to maxChunkTokens; the rest is planned again in the next wave. */
  #chunk(s: Segment): Segment {
    if (s.nodes.length <= this.#maxChunk) return s;
    return {
      ...s,
      nodes: s.nodes.slice(0, this.#maxChunk),
      outputs: s.outputs.filter((i) => i < this.#maxChunk),
    };
  }

  async #runGroup(
    group: readonly Segment[],
    k: number,
    wantProbs: boolean,
    tick: number,
  ): Promise<void> {
    const first = group[0];
    if (first === undefined) return;
    const { pastLength } = first;
    const steps = first.nodes.length;
    const rows = group.length;
    const info = this.#session.info;
    const tokens = new Int32Array(rows * steps);
    group.forEach((s, r) => s.nodes.forEach((n, t) => (tokens[r * steps + t] = n.token)));
    const past = stackKv(
      group.map((s) => s.pastBlob),
      pastLength,
      info,
    );
    const out = await this.#session.run({ rows, steps, pastLength, tokens, past });
    this.#counts.runs++;
    if (rows > 1) this.#counts.batchedRuns++;
    const blobs = splitPresent(out.present, rows, pastLength + steps, info);
    const vocab = this.vocabSize;
    group.forEach((s, r) => {
      for (const i of s.outputs) {
        const at = (r * steps + i) * vocab;
        const node = s.nodes[i];
        if (node !== undefined)
          node.prediction = mergePrediction(
            node.prediction,
            predictionOf(out.logits.subarray(at, at + vocab), k, wantProbs),
          );
      }
      const blob = blobs[r];
      if (s.recompute) {
        this.#counts.rerunTokens += steps;
        return;
      }
      if (blob !== undefined) this.#commit(s, blob, tick);
    });
  }

  /** The segment's nodes (and the ancestors that shared its exact past) now point to `blob`. */
  #commit(s: Segment, blob: KvBlob, tick: number): void {
    blob.usedTick = tick;
    this.#tips.set(blob, s.nodes[s.nodes.length - 1] ?? this.#cache.root);
    this.#kvBytes += blob.sizeBytes;
    for (const n of s.nodes) this.#assign(n, blob);
    this.#counts.newTokens += s.nodes.length;
    const old = s.pastBlob;
    if (old !== undefined && old.length === s.pastLength) {
      for (let n = s.from ?? null; n !== null && n.state === old; n = n.parent) {
        this.#assign(n, blob);
      }
    }
  }

  /**
   * The accepted path's nodes all move to the blob of its deepest cached node (it holds their prefix), so
   * a blob computed for a rejected branch no longer stays alive for the accepted prefix alone.
   */
  #rehomeAccepted(): void {
    let deepest: OrtNode | null = this.#accepted;
    while (deepest !== null && deepest.state === undefined) deepest = deepest.parent;
    const blob = deepest?.state;
    if (blob === undefined) return;
    for (let n = deepest?.parent ?? null; n !== null && n.depth > 0; n = n.parent) {
      this.#assign(n, blob);
    }
  }

  #assign(node: OrtNode, blob: KvBlob): void {
    if (node.state === blob) return;
    if (node.state !== undefined) this.#unref(node.state);
    node.state = blob;
    blob.refs++;
  }

  /** A node removed from the trie (or evicted) gives up its blob. */
  #release(node: OrtNode): void {
    const blob = node.state;
    node.state = undefined;
    if (blob !== undefined) this.#unref(blob);
  }

  #unref(blob: KvBlob): void {
    blob.refs--;
    if (blob.refs > 0) return;
    if (this.#tips.delete(blob)) this.#kvBytes -= blob.sizeBytes;
  }

  // --- budget ---

  /** Drops least recently used blobs beyond maxKvBytes, never one on this request's or the accepted path. */
  #evict(ends: readonly OrtNode[], tick: number): void {
    if (this.#kvBytes <= this.#maxKvBytes) return;
    const kept = new Set<KvBlob>();
    for (const end of [...ends, this.#accepted]) {
      for (let n: OrtNode | null = end; n !== null; n = n.parent) {
        if (n.state !== undefined) kept.add(n.state);
      }
    }
    const victims = [...this.#tips.keys()]
      .filter((b) => !kept.has(b) && b.usedTick !== tick)
      .sort((a, b) => a.usedTick - b.usedTick);
    for (const blob of victims) {
      if (this.#kvBytes <= this.#maxKvBytes) break;
      for (let n = this.#tips.get(blob) ?? null; n !== null && blob.refs > 0; n = n.parent) {
        if (n.state === blob) this.#release(n);
      }
      if (this.#tips.delete(blob)) this.#kvBytes -= blob.sizeBytes;
      this.#counts.evictions++;
    }
  }

  #compact(): void {
    if (this.#cache.size - this.#tips.size > this.#maxStateless) this.#cache.compact();
  }

  #clear(): void {
    for (const n of this.#cache.clear()) n.state = undefined;
    this.#tips.clear();
    this.#kvBytes = 0;
    this.#accepted = this.#cache.root;
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new EngineError("ERR_DESTROYED", "the drafter was destroyed");
  }
}

/** Top-k (ties: lower id first) and, when asked, the full distribution of one logits row. */
function predictionOf(logits: Float32Array, k: number, wantProbs: boolean): DraftPrediction {
  const top = topKRef(logits, k);
  return {
    topIds: top.ids,
    topProbs: top.probs,
    probs: wantProbs ? softmaxRef(logits) : undefined,
  };
}
