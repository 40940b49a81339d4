// Abort, parameterised by backend: a run aborted before or between any of its layers rejects with
// ERR_ABORTED and frees exactly the cells it claimed, and generation continuing afterwards produces the
// golden tokens. The signal aborts deterministically after a given number of `aborted` reads (backends
// poll `signal.aborted` before and between layers).

import { afterAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import type { LayerShard } from "../../src/model/batch.ts";
import type { ShardBackend } from "../../src/model/shard-spec.ts";
import { loadGolden, PRIMARY_FIXTURE, type ModelFixture } from "../fixtures/fixtures.ts";
import { destroyAll, fixtureConfig, makeShards } from "./backends.ts";
import { runPipeline } from "./pipeline.ts";

/** An AbortSignal whose `aborted` turns true on the (checks+1)-th read. */
function abortAfterChecks(checks: number): AbortSignal {
  const controller = new AbortController();
  let reads = 0;
  return new Proxy(controller.signal, {
    get(target, prop) {
      if (prop === "aborted") {
        if (reads++ >= checks && !target.aborted) controller.abort(new Error("test abort"));
        return target.aborted;
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export function describeAbort(
  backend: ShardBackend,
  fixture: ModelFixture = PRIMARY_FIXTURE,
): void {
  describe(`abort (${backend}, ${fixture})`, () => {
    const { golden } = loadGolden(fixture);
    const shards: LayerShard[] = [];
    afterAll(() => destroyAll(shards));

    it("aborting before or between any layers frees the run's cells; generation then continues exactly", async () => {
      const config = await fixtureConfig(fixture);
      const [shard] = await makeShards(backend, fixture, [], { kvCells: 64 });
      shards.push(shard!);
      const p = golden.prompt;
      const prefill = await runPipeline([shard!], {
        tokens: p,
        positions: p.map((_, i) => i),
        outputRows: [p.length - 1],
      });
      let next = prefill.outputs[0]!.argmax;
      const generated: number[] = [];
      for (let step = 0; step < golden.greedy.length; step++) {
        generated.push(next);
        const pos = p.length + step;
        // A speculative run of 3 rows that gets aborted after k checks, for every k a backend must honour.
        const k = step % config.numLayers;
        const doomed = runPipeline(
          [shard!],
          { tokens: [next, 5, 6], positions: [pos, pos + 1, pos + 2], seqIds: [[1], [1], [1]] },
          abortAfterChecks(k),
        );
        await expect(doomed).rejects.toSatisfy((e) => isEngineError(e, "ERR_ABORTED"));
        expect(await shard!.kvUsed()).toBe(pos);
        const r = await runPipeline([shard!], { tokens: [next], positions: [pos] });
        next = r.outputs[0]!.argmax;
      }
      expect(generated).toEqual(golden.greedy);
    });

    it("a signal aborted before the call, or right after it, rejects with ERR_ABORTED", async () => {
      const [shard] = await makeShards(backend, fixture, [], { kvCells: 64 });
      shards.push(shard!);
      const rows = { tokens: golden.prompt, positions: golden.prompt.map((_, i) => i) };
      const before = new AbortController();
      before.abort();
      await expect(runPipeline([shard!], rows, before.signal)).rejects.toSatisfy((e) =>
        isEngineError(e, "ERR_ABORTED"),
      );
      const after = new AbortController();
      const run = runPipeline([shard!], rows, after.signal);
      after.abort();
      await expect(run).rejects.toSatisfy((e) => isEngineError(e, "ERR_ABORTED"));
      expect(await shard!.kvUsed()).toBe(0);
      const ok = await runPipeline([shard!], { ...rows, outputRows: [rows.tokens.length - 1] });
      expect(ok.outputs[0]!.argmax).toBe(golden.greedy[0]);
    });
  });
}
