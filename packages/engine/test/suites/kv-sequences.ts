// KV sequence semantics end to end, parameterised by backend: two speculative branches sharing a prompt,
// then commit (seq_cp to 0), remove (seq_rm), keep (seq_keep) and rewrite a position, each giving exactly
// the outputs of recomputing that token path alone on a fresh shard; a run with no output rows (cache
// fill only) returns outputs: [] on the last shard.

import { afterAll, describe, expect, it } from "vitest";
import type { LayerShard, RowOutput } from "../../src/model/batch.ts";
import type { ShardBackend } from "../../src/model/shard-spec.ts";
import { loadGolden, PRIMARY_FIXTURE, type ModelFixture } from "../fixtures/fixtures.ts";
import { bitsOf, destroyAll, makeShards } from "./backends.ts";
import { kvAll, runPipeline } from "./pipeline.ts";

export function describeKvSequences(
  backend: ShardBackend,
  fixture: ModelFixture = PRIMARY_FIXTURE,
): void {
  describe(`KV sequences (${backend}, ${fixture})`, () => {
    const { golden } = loadGolden(fixture);
    const prompt = golden.prompt; // positions 0..7
    const n = prompt.length;
    const branchA = [golden.greedy[0]!, 17, 42];
    const branchB = [golden.greedy[0]!, 99, 5];
    const shards: LayerShard[] = [];
    afterAll(() => destroyAll(shards));

    async function fresh(boundaries: number[] = [1]): Promise<LayerShard[]> {
      const s = await makeShards(backend, fixture, boundaries, { kvCells: 64 });
      shards.push(...s);
      return s;
    }

    /** Logits bits per row of `path` run from scratch as one canonical batch (the reference). */
    async function alone(path: number[], rows: number[]): Promise<Uint32Array[]> {
      const s = await fresh([]);
      const run = await runPipeline(s, {
        tokens: path,
        positions: path.map((_, i) => i),
        outputRows: rows,
        logitsRows: rows,
      });
      return run.outputs.map((o) => bitsOf(o.logits!));
    }

    const logitsOf = (outputs: RowOutput[]) => outputs.map((o) => bitsOf(o.logits!));

    it("branches share the prompt, then commit, remove, keep and rewrite exactly", async () => {
      const s = await fresh();
      await runPipeline(s, {
        tokens: prompt,
        positions: prompt.map((_, i) => i),
        outputRows: [n - 1],
      });

      // Both branches in one batch, interleaved, in seqs 1 and 2.
      const both = await runPipeline(s, {
        tokens: [0, 1, 2].flatMap((i) => [branchA[i]!, branchB[i]!]),
        positions: [0, 1, 2].flatMap((i) => [n + i, n + i]),
        seqIds: [0, 1, 2].flatMap(() => [[1], [2]]),
        logitsRows: [0, 1, 2, 3, 4, 5],
      });
      const got = logitsOf(both.outputs);
      const refA = await alone([...prompt, ...branchA], [n, n + 1, n + 2]);
      const refB = await alone([...prompt, ...branchB], [n, n + 1, n + 2]);
      expect([got[0], got[2], got[4]]).toEqual(refA);
      expect([got[1], got[3], got[5]]).toEqual(refB);

      // Commit branch A (canonical now = prompt + A), drop both partitions.
      await kvAll(s, { op: "seq_cp", src: 1, dst: 0, p0: n, p1: n + 3 });
      await kvAll(s, { op: "seq_rm", seq: 1, p0: 0, p1: -1 });
      await kvAll(s, { op: "seq_rm", seq: 2, p0: 0, p1: -1 });
      for (const sh of s) expect(await sh.kvUsed()).toBe(n + 3);
      const x = 7;
      const next = await runPipeline(s, { tokens: [x], positions: [n + 3], logitsRows: [0] });
      expect(logitsOf(next.outputs)).toEqual(await alone([...prompt, ...branchA, x], [n + 3]));

      // Remove: truncate canonical after position n+1, continue with another token there.
      await kvAll(s, { op: "seq_rm", seq: 0, p0: n + 2, p1: -1 });
      const y = 11;
      const cut = await runPipeline(s, { tokens: [y], positions: [n + 2], logitsRows: [0] });
      expect(logitsOf(cut.outputs)).toEqual(
        await alone([...prompt, branchA[0]!, branchA[1]!, y], [n + 2]),
      );

      // Rewrite position n+1 without removing it first: the newest cell counts.
      const z = 23;
      const rewrite = await runPipeline(s, {
        tokens: [z, y],
        positions: [n + 1, n + 2],
        logitsRows: [0, 1],
      });
      expect(logitsOf(rewrite.outputs)).toEqual(
        await alone([...prompt, branchA[0]!, z, y], [n + 1, n + 2]),
      );
    });

    it("a run asking for no output rows fills the cache and returns outputs: []", async () => {
      for (const boundaries of [[], [1]]) {
        const s = await fresh(boundaries);
        const head = prompt.slice(0, 5);
        const filled = await runPipeline(s, {
          tokens: head,
          positions: head.map((_, i) => i),
          outputRows: [],
        });
        expect(filled.outputs).toEqual([]);
        for (const sh of s) expect(await sh.kvUsed()).toBe(5);
        const rest = await runPipeline(s, {
          tokens: prompt.slice(5),
          positions: prompt.slice(5).map((_, i) => 5 + i),
          logitsRows: prompt.slice(5).map((_, i) => i),
        });
        expect(logitsOf(rest.outputs)).toEqual(
          await alone(
            prompt,
            prompt.slice(5).map((_, i) => 5 + i),
          ),
        );
      }
    });

    it("seq_keep keeps one branch of a non-canonical context", async () => {
      const s = await fresh();
      const p = prompt.map((_, i) => i);
      await runPipeline(s, {
        tokens: prompt,
        positions: p,
        seqIds: p.map(() => [3]),
        outputRows: [n - 1],
      });
      await kvAll(s, { op: "seq_cp", src: 3, dst: 4, p0: 0, p1: -1 });
      await runPipeline(s, { tokens: [branchB[0]!], positions: [n], seqIds: [[3]] });
      await runPipeline(s, {
        tokens: [branchA[0]!, branchA[1]!],
        positions: [n, n + 1],
        seqIds: [[4], [4]],
      });
      await kvAll(s, { op: "seq_keep", seq: 4 });
      for (const sh of s) expect(await sh.kvUsed()).toBe(n + 2);
      const r = await runPipeline(s, {
        tokens: [branchA[2]!],
        positions: [n + 2],
        seqIds: [[4]],
        logitsRows: [0],
      });
      expect(logitsOf(r.outputs)).toEqual(await alone([...prompt, ...branchA], [n + 2]));
    });
  });
}
