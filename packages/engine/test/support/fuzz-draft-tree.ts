// A random draft tree like the scheduler's, for the drafter fuzz suites: grown level by level from base,
// every branch extended by its top-1, and split on its top-2 at random while there is room. Test-only.

import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import type { Rng } from "./random.ts";

export interface FuzzTreeShape {
  /** Levels: 1 + rng.int(maxDepth). */
  maxDepth: number;
  /** Most branches at a level. */
  maxBranches: number;
  /** Chance that a branch also opens its top-2. */
  splitChance: number;
}

/**
 * Grows the tree by calling predict once per level; returns the full context of every branch (base plus
 * its drafted tokens), or null when a predict call gave up (returned null).
 */
export async function growFuzzTree(
  base: readonly number[],
  rng: Rng,
  shape: FuzzTreeShape,
  predict: (contexts: Int32Array[]) => Promise<DraftPrediction[] | null>,
): Promise<number[][] | null> {
  let branches: number[][] = [[]];
  const depth = 1 + rng.int(shape.maxDepth);
  for (let level = 0; level < depth; level++) {
    const contexts = branches.map((b) => Int32Array.from([...base, ...b]));
    const preds = await predict(contexts);
    if (preds === null) return null;
    const grown: number[][] = [];
    preds.forEach((p, i) => {
      const b = branches[i]!;
      grown.push([...b, p.topIds[0]!]);
      if (
        p.topIds.length > 1 &&
        grown.length < shape.maxBranches &&
        rng.next() < shape.splitChance
      ) {
        grown.push([...b, p.topIds[1]!]);
      }
    });
    branches = grown;
  }
  return branches.map((b) => [...base, ...b]);
}
