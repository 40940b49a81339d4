// PrefixCache: the bookkeeping a caching drafter keeps about the contexts it has seen: a trie of token
// paths where each node may hold a backend state (generic `S`: the engine drafter's KV ownership, an ONNX
// drafter's per-branch KV tensors) and the cached prediction for the context ending there; recency ticks
// for LRU choices; pruning against an accepted context. Knows nothing of models, KV caches or sequence ids.

import type { DraftPrediction } from "./draft-model.ts";

/** One token path. The root is the empty context (depth 0, token -1). */
export class PrefixNode<S> {
  readonly token: number;
  /** Tokens on the path from the root; the node's token sits at position depth - 1. */
  readonly depth: number;
  readonly parent: PrefixNode<S> | null;
  readonly children = new Map<number, PrefixNode<S>>();
  /** The backend's state for this path (undefined: nothing cached). */
  state: S | undefined = undefined;
  /** The prediction after this path, when one was computed. */
  prediction: DraftPrediction | undefined = undefined;
  /** Tick of the last request that used this node (see PrefixCache.touch). */
  usedTick = 0;
  /** False once the node was removed from its cache. */
  attached = true;

  constructor(token: number, parent: PrefixNode<S> | null) {
    this.token = token;
    this.parent = parent;
    this.depth = parent === null ? 0 : parent.depth + 1;
  }

  /** The path's tokens (root to this node). */
  tokens(): Int32Array {
    const out = new Int32Array(this.depth);
    if (this.depth === 0) return out;
    out[this.depth - 1] = this.token;
    for (let n = this.parent; n !== null && n.depth > 0; n = n.parent) out[n.depth - 1] = n.token;
    return out;
  }
}

export interface PrefixCacheOptions {
  /**
   * Nodes that hold no state (only a prediction, or nothing but children) beyond this count are dropped,
   * least recently used first, by compact(). Default 4096.
   */
  maxStatelessNodes?: number | undefined;
}

export const DEFAULT_MAX_STATELESS_NODES = 4096;

export class PrefixCache<S> {
  readonly root = new PrefixNode<S>(-1, null);
  readonly #maxStateless: number;
  #size = 0;
  #tick = 0;
  /** The accepted context (see prune) and the deepest node on it, a shortcut for long contexts. */
  #accepted = new Int32Array(0);
  #anchor: PrefixNode<S> = this.root;

  constructor(options: PrefixCacheOptions = {}) {
    this.#maxStateless = options.maxStatelessNodes ?? DEFAULT_MAX_STATELESS_NODES;
  }

  /** Nodes in the trie, the root excluded. */
  get size(): number {
    return this.#size;
  }

  /** The current tick; nextTick() starts a new request. */
  get tick(): number {
    return this.#tick;
  }

  nextTick(): number {
    return ++this.#tick;
  }

  /** The node for `context`, creating the missing part of its path. */
  insert(context: ArrayLike<number>): PrefixNode<S> {
    let node = this.#start(context);
    for (let d = node.depth; d < context.length; d++) {
      const token = context[d] ?? 0;
      let child = node.children.get(token);
      if (child === undefined) {
        child = new PrefixNode<S>(token, node);
        node.children.set(token, child);
        this.#size++;
      }
      node = child;
    }
    return node;
  }

  /** The deepest existing node on `context`'s path (the root when none). */
  find(context: ArrayLike<number>): PrefixNode<S> {
    let node = this.#start(context);
    for (let d = node.depth; d < context.length; d++) {
      const child = node.children.get(context[d] ?? 0);
      if (child === undefined) break;
      node = child;
    }
    return node;
  }

  /**
   * Marks `node` and its ancestors as used at the current tick, stopping early at a node already marked
   * or for which `stop` is true (that node is not marked).
   */
  touch(node: PrefixNode<S>, stop?: (n: PrefixNode<S>) => boolean): void {
    for (let n: PrefixNode<S> | null = node; n !== null; n = n.parent) {
      if (n.usedTick === this.#tick || stop?.(n) === true) return;
      n.usedTick = this.#tick;
    }
  }

  /**
   * The accepted context is now `accepted`: removes every subtree inconsistent with it (paths that are
   * neither a prefix nor an extension of it) and the predictions of its own proper prefixes (nobody asks
   * for those again). Returns the removed nodes that held a state, for the backend to free.
   */
  prune(accepted: ArrayLike<number>): PrefixNode<S>[] {
    const dropped: PrefixNode<S>[] = [];
    const path = this.insert(accepted);
    for (let n: PrefixNode<S> | null = path; n !== null; n = n.parent) {
      const keep = n === path ? undefined : accepted[n.depth];
      for (const [token, child] of n.children) {
        if (keep !== undefined && token !== keep) this.#detach(child, dropped);
      }
      if (n !== path) n.prediction = undefined;
    }
    this.#accepted = Int32Array.from(accepted);
    this.#anchor = path;
    return dropped;
  }

  /** Removes `node` and its subtree. Returns the removed nodes that held a state. */
  remove(node: PrefixNode<S>): PrefixNode<S>[] {
    const dropped: PrefixNode<S>[] = [];
    if (node === this.root || !node.attached) return dropped;
    if (this.#onAnchorPath(node)) this.#resetAnchor();
    this.#detach(node, dropped);
    return dropped;
  }

  /** Removes everything. Returns the removed nodes that held a state. */
  clear(): PrefixNode<S>[] {
    const dropped: PrefixNode<S>[] = [];
    for (const child of [...this.root.children.values()]) this.#detach(child, dropped);
    this.root.state = undefined;
    this.root.prediction = undefined;
    this.#resetAnchor();
    return dropped;
  }

  /**
   * Drops nodes that hold nothing (no state, no prediction, no children) and, beyond maxStatelessNodes,
   * stateless leaves least recently used first. Nodes with a state, nodes for which `keep` is true and
   * the accepted path are kept. Returns how many nodes were removed.
   */
  compact(keep?: (n: PrefixNode<S>) => boolean): number {
    const before = this.#size;
    const kept = new Set<PrefixNode<S>>();
    for (let a: PrefixNode<S> | null = this.#anchor; a !== null; a = a.parent) kept.add(a);
    const removable = (n: PrefixNode<S>): boolean =>
      n !== this.root && n.state === undefined && !kept.has(n) && keep?.(n) !== true;
    const order = [...this.nodes()];
    const stateless: PrefixNode<S>[] = [];
    // Reversed pre-order visits children before their parents.
    for (let i = order.length - 1; i >= 0; i--) {
      const n = order[i];
      if (n === undefined || !removable(n)) continue;
      if (n.children.size === 0 && n.prediction === undefined) this.#detach(n, []);
      else stateless.push(n);
    }
    let excess = stateless.length - this.#maxStateless;
    if (excess <= 0) return before - this.#size;
    // Leaves by age; a parent left childless goes with its last child.
    stateless.sort((a, b) => a.usedTick - b.usedTick);
    for (const n of stateless) {
      let victim: PrefixNode<S> | null = n;
      while (excess > 0 && victim?.attached === true && victim.children.size === 0) {
        const parent: PrefixNode<S> | null = victim.parent;
        this.#detach(victim, []);
        excess--;
        victim = parent !== null && removable(parent) ? parent : null;
      }
      if (excess <= 0) break;
    }
    return before - this.#size;
  }

  /** Every node (the root excluded), parents before children. */
  *nodes(): Generator<PrefixNode<S>> {
    const stack = [...this.root.children.values()];
    while (stack.length > 0) {
      const n = stack.pop();
      if (n === undefined) break;
      yield n;
      stack.push(...n.children.values());
    }
  }

  // Long contexts share the accepted prefix: start the walk at the anchor when they do.
  #start(context: ArrayLike<number>): PrefixNode<S> {
    const anchor = this.#anchor;
    const d = anchor.depth;
    if (d === 0 || context.length < d || !anchor.attached) return this.root;
    const accepted = this.#accepted;
    for (let i = d - 1; i >= 0; i--) if (context[i] !== accepted[i]) return this.root;
    return anchor;
  }

  #onAnchorPath(n: PrefixNode<S>): boolean {
    if (n.depth > this.#anchor.depth) return false;
    let a: PrefixNode<S> | null = this.#anchor;
    while (a !== null && a.depth > n.depth) a = a.parent;
    return a === n;
  }

  #resetAnchor(): void {
    this.#anchor = this.root;
    this.#accepted = new Int32Array(0);
  }

  #detach(node: PrefixNode<S>, dropped: PrefixNode<S>[]): void {
    node.parent?.children.delete(node.token);
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop();
      if (n === undefined) break;
      n.attached = false;
      this.#size--;
      if (n.state !== undefined) dropped.push(n);
      stack.push(...n.children.values());
    }
  }
}

/**
 * The cached prediction of `node` trimmed to what was asked (fresh arrays), or undefined when the cache
 * cannot answer: fewer than topK candidates cached, or full probabilities asked and not cached.
 */
export function cachedPrediction(
  cached: DraftPrediction | undefined,
  topK: number,
  wantProbs: boolean,
): DraftPrediction | undefined {
  if (cached === undefined || cached.topIds.length < topK) return undefined;
  if (wantProbs && cached.probs === undefined) return undefined;
  return {
    topIds: cached.topIds.slice(0, topK),
    topProbs: cached.topProbs.slice(0, topK),
    probs: wantProbs ? cached.probs?.slice() : undefined,
  };
}

/** Merges a newly computed prediction into a cached one (the wider top-k and any probabilities win). */
export function mergePrediction(
  cached: DraftPrediction | undefined,
  next: DraftPrediction,
): DraftPrediction {
  if (cached === undefined) return next;
  const wider = next.topIds.length >= cached.topIds.length ? next : cached;
  return { topIds: wider.topIds, topProbs: wider.topProbs, probs: next.probs ?? cached.probs };
}
