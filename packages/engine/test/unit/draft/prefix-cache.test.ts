// PrefixCache, the drafters' generic trie: shared paths, pruning against an accepted context, recency,
// compaction under a node cap, and the cached-prediction helpers.

import { describe, expect, it } from "vitest";
import {
  cachedPrediction,
  mergePrediction,
  PrefixCache,
  type PrefixNode,
} from "../../../src/draft/prefix-cache.ts";
import type { DraftPrediction } from "../../../src/draft/draft-model.ts";

const path = (...t: number[]) => Int32Array.from(t);
const pred = (ids: number[], probs?: number[]): DraftPrediction => ({
  topIds: Int32Array.from(ids),
  topProbs: Float32Array.from(ids.map((_, i) => 1 / (i + 2))),
  probs: probs === undefined ? undefined : Float32Array.from(probs),
});

describe("PrefixCache", () => {
  it("shares prefixes and finds the deepest cached node", () => {
    const c = new PrefixCache<string>();
    const a = c.insert(path(1, 2, 3));
    const b = c.insert(path(1, 2, 4));
    expect(c.size).toBe(4);
    expect(a.parent).toBe(b.parent);
    expect([a.depth, a.token, Array.from(a.tokens())]).toEqual([3, 3, [1, 2, 3]]);
    expect(c.insert(path(1, 2, 3))).toBe(a);
    expect(c.find(path(1, 2, 3, 9, 9))).toBe(a);
    expect(c.find(path(7))).toBe(c.root);
    expect(c.root.depth).toBe(0);
  });

  it("prune keeps the accepted path and its extensions, drops the rest and stale predictions", () => {
    const c = new PrefixCache<string>();
    const keepExt = c.insert(path(1, 2, 3, 4));
    const dropA = c.insert(path(1, 5));
    const dropB = c.insert(path(1, 2, 6, 7));
    const prefix = c.insert(path(1, 2));
    dropA.state = "a";
    dropB.state = "b";
    keepExt.state = "e";
    prefix.prediction = pred([1]);
    const frontier = c.insert(path(1, 2, 3));
    frontier.prediction = pred([2]);

    const dropped = c.prune(path(1, 2, 3));
    expect(dropped.map((n) => n.state).sort()).toEqual(["a", "b"]);
    expect([dropA.attached, dropB.attached, dropB.parent?.attached]).toEqual([false, false, false]);
    expect(keepExt.attached).toBe(true);
    expect(prefix.prediction).toBeUndefined();
    expect(frontier.prediction).toBeDefined();
    expect(c.size).toBe(4);

    // A context through the accepted prefix starts at the anchor and still walks correctly.
    const next = c.insert(path(1, 2, 3, 4, 8));
    expect(next.parent).toBe(keepExt);
    expect(Array.from(next.tokens())).toEqual([1, 2, 3, 4, 8]);
    expect(c.insert(path(1, 9)).parent).toBe(c.root.children.get(1));
  });

  it("touch marks a node and its ancestors until told to stop", () => {
    const c = new PrefixCache<string>();
    const n = c.insert(path(1, 2, 3));
    const mid = n.parent!;
    mid.state = "stop";
    const tick = c.nextTick();
    c.touch(n, (x) => x.state === "stop");
    expect([n.usedTick, mid.usedTick, mid.parent!.usedTick]).toEqual([tick, 0, 0]);
  });

  it("compact drops empty nodes and, beyond the cap, the oldest stateless leaves", () => {
    const c = new PrefixCache<string>({ maxStatelessNodes: 3 });
    c.prune(path(7, 7)); // the accepted path survives compaction even with nothing on it
    const stateful = c.insert(path(1, 1));
    stateful.state = "kv";
    c.insert(path(2, 2, 2)); // nothing cached on this path
    const olds: PrefixNode<string>[] = [];
    for (const t of [3, 4, 5]) {
      c.nextTick();
      const n = c.insert(path(9, t));
      n.prediction = pred([t]);
      c.touch(n);
      olds.push(n);
    }
    // Stateless: [1], [9], [9,3], [9,4], [9,5]; the two oldest leaves go, and the empty [2,2,2] path.
    expect(c.compact()).toBe(5);
    expect(stateful.attached).toBe(true);
    expect(c.find(path(2, 2, 2))).toBe(c.root);
    expect(olds.map((n) => n.attached)).toEqual([false, false, true]);
    expect(c.find(path(7, 7)).depth).toBe(2);
    expect(c.compact()).toBe(0);
  });

  it("remove and clear return the nodes that held state", () => {
    const c = new PrefixCache<number>();
    const a = c.insert(path(1, 2));
    a.state = 5;
    a.parent!.state = 6;
    c.insert(path(3)).state = 7;
    expect(
      c
        .remove(a.parent!)
        .map((n) => n.state)
        .sort(),
    ).toEqual([5, 6]);
    expect(c.clear().map((n) => n.state)).toEqual([7]);
    expect(c.size).toBe(0);
  });
});

describe("cached predictions", () => {
  it("answer only what was cached, as fresh copies", () => {
    const cached = pred([4, 2, 9], [0.1, 0.2, 0.7]);
    const got = cachedPrediction(cached, 2, false);
    expect(Array.from(got!.topIds)).toEqual([4, 2]);
    expect(got!.probs).toBeUndefined();
    got!.topIds[0] = 99;
    expect(cached.topIds[0]).toBe(4);
    expect(cachedPrediction(cached, 4, false)).toBeUndefined();
    expect(cachedPrediction(pred([1, 2]), 1, true)).toBeUndefined();
    expect(Array.from(cachedPrediction(cached, 3, true)!.probs!)).toEqual(
      Array.from(Float32Array.of(0.1, 0.2, 0.7)),
    );
    expect(cachedPrediction(undefined, 1, false)).toBeUndefined();
  });

  it("merge keeps the wider top-k and any probabilities", () => {
    const wide = pred([1, 2, 3], [0.5, 0.5]);
    const merged = mergePrediction(wide, pred([1]));
    expect(Array.from(merged.topIds)).toEqual([1, 2, 3]);
    expect(merged.probs).toBe(wide.probs);
    const withProbs = mergePrediction(pred([1, 2]), pred([1], [1]));
    expect(Array.from(withProbs.topIds)).toEqual([1, 2]);
    expect(withProbs.probs).toBeDefined();
    expect(mergePrediction(undefined, wide)).toBe(wide);
  });
});
