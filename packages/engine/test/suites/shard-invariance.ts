// Shard invariance, parameterised by backend and by where shards run (in process or one worker_thread per
// shard): the model split at every layer boundary into 2 and 3 shards gives bit-identical hidden states
// at the boundaries, bit-identical logits and identical greedy tokens to the unsplit model.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LayerShard } from "../../src/model/batch.ts";
import type { ShardBackend } from "../../src/model/shard-spec.ts";
import { loadGolden, type ModelFixture } from "../fixtures/fixtures.ts";
import { bitsOf, destroyAll, fixtureConfig, makeShards, makeWorkerShards } from "./backends.ts";
import { greedyGenerate, runPipeline } from "./pipeline.ts";

/** Every way to cut numLayers into `count` non-empty contiguous ranges, as boundary lists. */
export function allSplits(numLayers: number, count: number): number[][] {
  const out: number[][] = [];
  const rec = (from: number, left: number, acc: number[]): void => {
    if (left === 0) {
      out.push(acc);
      return;
    }
    for (let b = from; b <= numLayers - left; b++) rec(b + 1, left - 1, [...acc, b]);
  };
  rec(1, count - 1, []);
  return out;
}

export function describeShardInvariance(
  backend: ShardBackend,
  fixture: ModelFixture,
  where: "in-process" | "workers",
): void {
  describe(`shard invariance (${backend}, ${fixture}, ${where})`, () => {
    const { golden } = loadGolden(fixture);
    const prompt = golden.prompt;
    const steps = 6;
    const positions = prompt.map((_, i) => i);
    const all = positions;
    /** [layer] hidden state bits after that layer, from one shard per layer in process. */
    const boundaryHidden: Uint32Array[] = [];
    let wholeLogits: Uint32Array[] = [];
    let numLayers = 0;
    const live: LayerShard[] = [];
    afterAll(() => destroyAll(live));

    beforeAll(async () => {
      numLayers = (await fixtureConfig(fixture)).numLayers;
      const perLayer = await makeShards(
        backend,
        fixture,
        Array.from({ length: numLayers - 1 }, (_, i) => i + 1),
      );
      live.push(...perLayer);
      const run = await runPipeline(perLayer, { tokens: prompt, positions, logitsRows: all });
      run.hidden.forEach((h, i) => (boundaryHidden[i + 1] = bitsOf(h)));
      const [whole] = await makeShards(backend, fixture);
      live.push(whole!);
      const w = await runPipeline([whole!], { tokens: prompt, positions, logitsRows: all });
      wholeLogits = w.outputs.map((o) => bitsOf(o.logits!));
      // One shard per layer is itself a split: it must already agree with the whole model.
      expect(run.outputs.map((o) => bitsOf(o.logits!))).toEqual(wholeLogits);
    });

    for (const count of [2, 3]) {
      it(`every split into ${count} shards`, async () => {
        const splits = allSplits(numLayers, count);
        expect(splits.length).toBeGreaterThan(0);
        for (const cuts of splits) {
          const make = where === "workers" ? makeWorkerShards : makeShards;
          const shards = await make(backend, fixture, cuts, { kvCells: 64 });
          live.push(...shards);
          try {
            const run = await runPipeline(shards, { tokens: prompt, positions, logitsRows: all });
            cuts.forEach((layer, i) => {
              expect(
                bitsOf(run.hidden[i]!),
                `hidden after layer ${layer}, split ${cuts.join("|")}`,
              ).toEqual(boundaryHidden[layer]);
            });
            expect(
              run.outputs.map((o) => bitsOf(o.logits!)),
              `split ${cuts.join("|")}`,
            ).toEqual(wholeLogits);
            for (const s of shards) await s.kv({ op: "clear" });
            expect(await greedyGenerate(shards, prompt, steps)).toEqual(
              golden.greedy.slice(0, steps),
            );
          } finally {
            await destroyAll(shards);
          }
        }
      });
    }
  });
}
