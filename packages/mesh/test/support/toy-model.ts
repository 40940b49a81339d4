// A deterministic toy "model" for scheduler and transport tests: integer-hash hidden states (exact in
// float32), one toy key per layer per token stored in a ToyKvCache, and "attention" that folds the visible
// cells' keys in position order, so any KV mistake (a missing, stale or foreign cell) changes the tokens.
// ToyModel holds the maths and a KV-free reference (ToyReference); createToyStages splits it into
// StageRunners (a single stage is "one peer"). Not a language model and not numerically meaningful.

import type {
  StageBatch,
  StageKvOp,
  StageResult,
  StageRowOutput,
  StageRunner,
} from "../../src/ports.ts";
import { ToyKvCache, ToyStageError } from "./toy-kv-cache.ts";

const MASK24 = 0xffffff;

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of two integers (order matters). */
export function hash2(a: number, b: number): number {
  return fmix32((Math.imul(fmix32(a ^ 0x9e3779b9), 0x01000193) + (b | 0)) | 0);
}

/** A 32-bit hash of a list of integers. */
export function hashList(seed: number, values: ArrayLike<number>): number {
  let h = fmix32(seed ^ 0x5bd1e995);
  for (let i = 0; i < values.length; i++) h = hash2(h, values[i]!);
  return h;
}

export interface ToyModelSpec {
  vocabSize: number;
  layers: number;
  hiddenSize: number;
  seed: number;
  /** Logits are logitScale * u^logitPower for a hash-uniform u in [0, 1): larger = peakier. */
  logitScale: number;
  logitPower: number;
}

export const DEFAULT_TOY_SPEC: ToyModelSpec = {
  vocabSize: 16,
  layers: 4,
  hiddenSize: 4,
  seed: 7,
  logitScale: 7,
  logitPower: 3,
};

export class ToyModel {
  readonly spec: ToyModelSpec;
  constructor(spec: Partial<ToyModelSpec> = {}) {
    this.spec = { ...DEFAULT_TOY_SPEC, ...spec };
  }

  embed(token: number): Int32Array {
    const h = new Int32Array(this.spec.hiddenSize);
    for (let j = 0; j < h.length; j++) h[j] = hash2(hash2(this.spec.seed, token), j) & MASK24;
    return h;
  }

  key(layer: number, h: ArrayLike<number>): number {
    return hashList(hash2(this.spec.seed, 1000 + layer), h) & MASK24;
  }

  attendInit(layer: number): number {
    return hash2(this.spec.seed, 2000 + layer);
  }

  attendStep(acc: number, pos: number, key: number): number {
    return hash2(hash2(acc, pos), key);
  }

  layerOut(layer: number, h: ArrayLike<number>, acc: number): Int32Array {
    const out = new Int32Array(h.length);
    for (let j = 0; j < h.length; j++) out[j] = hash2(hash2(h[j]!, acc), layer * 64 + j) & MASK24;
    return out;
  }

  logits(h: ArrayLike<number>): Float32Array {
    const { vocabSize, logitScale, logitPower, seed } = this.spec;
    const base = hashList(hash2(seed, 3000), h);
    const out = new Float32Array(vocabSize);
    for (let v = 0; v < vocabSize; v++) {
      const u = (hash2(base, v) & 0xffff) / 65536;
      out[v] = logitScale * u ** logitPower;
    }
    return out;
  }
}

/** softmax at temperature 1 (float64 maths, float32 out). */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const p = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) p[i] = Math.exp(logits[i]! - max) / sum;
  return p;
}

/** Ids by descending value, ties to the lower id. */
export function rankIds(values: ArrayLike<number>): number[] {
  const ids = Array.from({ length: values.length }, (_, i) => i);
  return ids.sort((a, b) => values[b]! - values[a]! || a - b);
}

/** Row output (argmax, prob, top-k, optional logits) exactly as a tail stage reports it. */
export function rowOutput(
  row: number,
  logits: Float32Array,
  topK: number,
  withLogits: boolean,
): StageRowOutput {
  const probs = softmax(logits);
  const ids = rankIds(logits).slice(0, Math.max(1, topK));
  return {
    row,
    argmax: ids[0]!,
    prob: probs[ids[0]!]!,
    topIds: Int32Array.from(ids),
    topProbs: Float32Array.from(ids.map((i) => probs[i]!)),
    ...(withLogits ? { logits: Float32Array.from(logits) } : {}),
  };
}

interface PathNode {
  token: number;
  pos: number;
  parent: PathNode | null;
  keys: Int32Array; // [layers]
  hidden: Int32Array; // final hidden
  children: Map<number, PathNode>;
}

/**
 * The KV-free oracle: evaluates token paths directly (each position attends to every earlier position of
 * its own path), caching a trie of evaluated prefixes. `logitsAfter(ctx)` is the target's next-token logits.
 */
export class ToyReference {
  readonly model: ToyModel;
  #roots = new Map<number, PathNode>();
  #nodes = 0;

  constructor(model: ToyModel) {
    this.model = model;
  }

  get cachedNodes(): number {
    return this.#nodes;
  }

  /** How many tokens of `ctx` are not cached yet. */
  missing(ctx: ArrayLike<number>): number {
    let map = this.#roots;
    for (let i = 0; i < ctx.length; i++) {
      const next = map.get(ctx[i]!);
      if (next === undefined) return ctx.length - i;
      map = next.children;
    }
    return 0;
  }

  logitsAfter(ctx: ArrayLike<number>): Float32Array {
    if (ctx.length === 0) throw new Error("ToyReference: empty context");
    return this.model.logits(this.#walk(ctx).hidden);
  }

  /** Drops cached paths that leave `keep` before its end (descendants of its end are kept). */
  prune(keep: ArrayLike<number>): void {
    let map = this.#roots;
    for (let i = 0; i < keep.length; i++) {
      const t = keep[i]!;
      const next = map.get(t);
      for (const [k, node] of map) {
        if (k === t) continue;
        this.#nodes -= countNodes(node);
        map.delete(k);
      }
      if (next === undefined) return;
      map = next.children;
    }
  }

  clear(): void {
    this.#roots.clear();
    this.#nodes = 0;
  }

  #walk(ctx: ArrayLike<number>): PathNode {
    let parent: PathNode | null = null;
    let map = this.#roots;
    for (let i = 0; i < ctx.length; i++) {
      const t = ctx[i]!;
      let node = map.get(t);
      if (node === undefined) {
        node = this.#evaluate(parent, t, i);
        map.set(t, node);
        this.#nodes++;
      }
      parent = node;
      map = node.children;
    }
    return parent!;
  }

  #evaluate(parent: PathNode | null, token: number, pos: number): PathNode {
    const m = this.model;
    const path: PathNode[] = [];
    for (let p = parent; p !== null; p = p.parent) path.push(p);
    path.reverse();
    const keys = new Int32Array(m.spec.layers);
    let h: Int32Array = m.embed(token);
    for (let l = 0; l < m.spec.layers; l++) {
      keys[l] = m.key(l, h);
      let acc = m.attendInit(l);
      for (const p of path) acc = m.attendStep(acc, p.pos, p.keys[l]!);
      acc = m.attendStep(acc, pos, keys[l]!);
      h = m.layerOut(l, h, acc);
    }
    return { token, pos, parent, keys, hidden: h, children: new Map() };
  }
}

function countNodes(node: PathNode): number {
  let n = 1;
  for (const c of node.children.values()) n += countNodes(c);
  return n;
}

/** One run in progress on a toy stage, layer by layer (the sim pipeline steps it on its virtual clock). */
export interface ToyStageRun {
  readonly layers: number;
  /** Layers computed so far. */
  readonly done: number;
  step(): void;
  /** After every layer: the stage's result. */
  finish(): StageResult;
  /** Frees the cells this run claimed (a cancel between layers). */
  abort(): void;
}

/** A toy shard: layers [layerStart, layerEnd) of a ToyModel with its own ToyKvCache. */
export class ToyStage implements StageRunner {
  readonly model: ToyModel;
  readonly layerStart: number;
  readonly layerEnd: number;
  readonly cache: ToyKvCache;
  readonly defaultTopK: number;
  runsStarted = 0;
  runsAborted = 0;

  constructor(
    model: ToyModel,
    options: {
      layerStart: number;
      layerEnd: number;
      kvCells: number;
      maxSeqs: number;
      topK?: number;
    },
  ) {
    this.model = model;
    this.layerStart = options.layerStart;
    this.layerEnd = options.layerEnd;
    this.cache = new ToyKvCache({
      capacity: options.kvCells,
      maxSeqs: options.maxSeqs,
      layers: this.layerEnd - this.layerStart,
    });
    this.defaultTopK = options.topK ?? 8;
  }

  get embeds(): boolean {
    return this.layerStart === 0;
  }

  get head(): boolean {
    return this.layerEnd === this.model.spec.layers;
  }

  /** Claims cells (ERR_KV_FULL before anything is claimed) and returns the run to step layer by layer. */
  begin(batch: StageBatch): ToyStageRun {
    const m = this.model;
    const H = m.spec.hiddenSize;
    const rows = batch.positions.length;
    let hidden: Int32Array[];
    if (this.embeds) {
      if (batch.tokens?.length !== rows)
        throw new ToyStageError("ERR_BATCH_INVALID", "first stage needs tokens per row");
      hidden = Array.from(batch.tokens, (t) => m.embed(t));
    } else {
      if (batch.hidden?.length !== rows * H)
        throw new ToyStageError("ERR_BATCH_INVALID", "stage needs hidden [rows, H]");
      const src = batch.hidden;
      hidden = Array.from({ length: rows }, (_, r) =>
        Int32Array.from(src.subarray(r * H, (r + 1) * H)),
      );
    }
    const { cells, gather } = this.cache.claim(batch.positions, batch.seqIds);
    this.runsStarted++;
    const cache = this.cache;
    const layerStart = this.layerStart;
    const head = this.head;
    const topK = batch.topK ?? this.defaultTopK;
    const onAbort = (): void => {
      this.runsAborted++;
      cache.release(cells);
    };
    const layers = this.layerEnd - this.layerStart;
    let done = 0;
    let aborted = false;
    return {
      layers,
      get done() {
        return done;
      },
      step() {
        if (aborted || done >= layers) throw new Error("ToyStageRun.step after the end");
        const l = done;
        const g = layerStart + l;
        for (let r = 0; r < rows; r++) {
          const h = hidden[r]!;
          cache.cell(cells[r]!).keys[l] = m.key(g, h);
          let acc = m.attendInit(g);
          for (const c of gather[r]!) {
            const cell = cache.cell(c);
            acc = m.attendStep(acc, cell.pos, cell.keys[l]!);
          }
          hidden[r] = m.layerOut(g, h, acc);
        }
        done++;
      },
      finish() {
        if (done < layers) throw new Error("ToyStageRun.finish before the last layer");
        if (!head) {
          const out = new Float32Array(rows * H);
          hidden.forEach((h, r) => out.set(h, r * H));
          return { hidden: out };
        }
        const withLogits = new Set(batch.logitsRows ?? []);
        return {
          outputs: Array.from(batch.outputRows, (r) =>
            rowOutput(r, m.logits(hidden[r]!), topK, withLogits.has(r)),
          ),
        };
      },
      abort() {
        if (aborted) return;
        aborted = true;
        onAbort();
      },
    };
  }

  /** StageRunner: checks the signal before and between layers (yielding to the event loop in between). */
  async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
    if (signal?.aborted === true)
      throw new ToyStageError("ERR_ABORTED", "run cancelled before start");
    const run = this.begin(batch);
    while (run.done < run.layers) {
      await Promise.resolve();
      if (isAborted(signal)) {
        run.abort();
        throw new ToyStageError("ERR_ABORTED", `run cancelled after ${run.done} layers`);
      }
      run.step();
    }
    return run.finish();
  }

  kv(op: StageKvOp): Promise<void> {
    this.cache.apply(op);
    return Promise.resolve();
  }
}

// A function so that TypeScript does not narrow `signal.aborted` across awaits.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

export interface ToyStagesOptions {
  /** Layers per stage, e.g. [1, 2, 1]; or `stages` for an even split. */
  split?: number[];
  stages?: number;
  kvCells?: number;
  maxSeqs?: number;
  topK?: number;
}

/** Splits a ToyModel into consecutive stages (default: one stage = one peer holding every layer). */
export function createToyStages(model: ToyModel, options: ToyStagesOptions = {}): ToyStage[] {
  const L = model.spec.layers;
  const split = options.split ?? evenSplit(L, options.stages ?? 1);
  if (split.reduce((a, b) => a + b, 0) !== L || split.some((n) => n < 1)) {
    throw new Error(`toy split ${JSON.stringify(split)} does not cover ${L} layers`);
  }
  let start = 0;
  return split.map((n) => {
    const stage = new ToyStage(model, {
      layerStart: start,
      layerEnd: start + n,
      kvCells: options.kvCells ?? 1024,
      maxSeqs: options.maxSeqs ?? 64,
      ...(options.topK === undefined ? {} : { topK: options.topK }),
    });
    start += n;
    return stage;
  });
}

function evenSplit(layers: number, stages: number): number[] {
  if (stages < 1 || stages > layers)
    throw new Error(`cannot split ${layers} layers into ${stages} stages`);
  return Array.from(
    { length: stages },
    (_, i) => Math.floor(((i + 1) * layers) / stages) - Math.floor((i * layers) / stages),
  );
}
