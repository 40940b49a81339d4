// Batch invariance, parameterised by backend: a row's outputs (logits, top-k, the hidden states between
// shards) are bit-identical whether it runs alone or in batches of other sizes, next to rows of other
// sequences, and wherever its KV cells sit in the pool. Used by the CPU unit tests and the WebGPU parity
// tests alike.

import { afterAll, describe, expect, it } from "vitest";
import type { LayerShard } from "../../src/model/batch.ts";
import type { ShardBackend } from "../../src/model/shard-spec.ts";
import { loadGolden, PRIMARY_FIXTURE, type ModelFixture } from "../fixtures/fixtures.ts";
import { GGUF_FIXTURES, loadGgufGolden, type GgufFixture } from "../fixtures/gguf-fixtures.ts";
import { bitsOf, destroyAll, makeShards } from "./backends.ts";
import { kvAll, runPipeline, type PipelineRun } from "./pipeline.ts";

interface RowResult {
  logits: Uint32Array;
  topIds: number[];
  hidden: Uint32Array; // the row's hidden state between the two shards
}

/** Prompt and greedy continuation of a safetensors or GGUF fixture. */
function goldenOf(fixture: ModelFixture | GgufFixture): { prompt: number[]; greedy: number[] } {
  return (GGUF_FIXTURES as readonly string[]).includes(fixture)
    ? loadGgufGolden(fixture as GgufFixture)
    : loadGolden(fixture as ModelFixture).golden;
}

export function describeBatchInvariance(
  backend: ShardBackend,
  fixture: ModelFixture | GgufFixture = PRIMARY_FIXTURE,
): void {
  describe(`batch invariance (${backend}, ${fixture})`, () => {
    const golden = goldenOf(fixture);
    const tokens = [...golden.prompt, ...golden.greedy.slice(0, 4)]; // 12 rows at positions 0..11
    const shards: LayerShard[] = [];
    afterAll(() => destroyAll(shards));

    async function fresh(): Promise<LayerShard[]> {
      const s = await makeShards(backend, fixture, [1], { kvCells: 64 });
      shards.push(...s);
      return s;
    }

    function rowsOf(run: PipelineRun, picks: number[], hiddenSize: number): RowResult[] {
      return picks.map((r) => {
        const o = run.outputs.find((x) => x.row === r);
        if (o?.logits === undefined) throw new Error(`no logits for row ${r}`);
        return {
          logits: bitsOf(o.logits),
          topIds: [...o.topIds],
          hidden: bitsOf(run.hidden[0]!.slice(r * hiddenSize, (r + 1) * hiddenSize)),
        };
      });
    }

    /** Runs `tokens` in canonical seq 0 chunk by chunk; per position, its row results. */
    async function chunked(
      s: LayerShard[],
      sizes: number[],
      interleave = false,
    ): Promise<RowResult[]> {
      const hiddenSize = s[0]!.info.hiddenSize;
      const vocab = Math.min(128, s[0]!.info.vocabSize);
      const out: RowResult[] = [];
      let at = 0;
      for (let c = 0; at < tokens.length; c++) {
        const n = Math.min(sizes[c % sizes.length]!, tokens.length - at);
        const idx = Array.from({ length: n }, (_, i) => at + i);
        if (!interleave) {
          const run = await runPipeline(s, {
            tokens: idx.map((p) => tokens[p]!),
            positions: idx,
            logitsRows: idx.map((_, i) => i),
          });
          out.push(
            ...rowsOf(
              run,
              idx.map((_, i) => i),
              hiddenSize,
            ),
          );
        } else {
          // Every row of seq 0 is preceded by an unrelated row of seq 7 at a later position.
          const run = await runPipeline(s, {
            tokens: idx.flatMap((p) => [(tokens[p]! * 7 + 3) % vocab, tokens[p]!]),
            positions: idx.flatMap((p) => [p + 20, p]),
            seqIds: idx.flatMap(() => [[7], [0]]),
            logitsRows: idx.flatMap((_, i) => [2 * i, 2 * i + 1]),
          });
          out.push(
            ...rowsOf(
              run,
              idx.map((_, i) => 2 * i + 1),
              hiddenSize,
            ),
          );
        }
        at += n;
      }
      return out;
    }

    let reference: RowResult[] = [];

    it("one batch of all rows is the reference", async () => {
      reference = await chunked(await fresh(), [tokens.length]);
      expect(reference).toHaveLength(tokens.length);
    });

    it.each([[[1]], [[3]], [[5]], [[2, 7, 1]]])(
      "chunks of %j give bit-identical rows",
      async (sizes) => {
        const got = await chunked(await fresh(), sizes);
        for (const [p, r] of got.entries()) {
          expect(r.hidden, `hidden at position ${p}`).toEqual(reference[p]!.hidden);
          expect(r.logits, `logits at position ${p}`).toEqual(reference[p]!.logits);
          expect(r.topIds).toEqual(reference[p]!.topIds);
        }
      },
    );

    it("rows interleaved with another sequence's rows are bit-identical", async () => {
      const got = await chunked(await fresh(), [4], true);
      for (const [p, r] of got.entries()) {
        expect(r.hidden, `hidden at position ${p}`).toEqual(reference[p]!.hidden);
        expect(r.logits, `logits at position ${p}`).toEqual(reference[p]!.logits);
      }
    });

    it("rows whose cells sit elsewhere in a fragmented pool are bit-identical", async () => {
      const s = await fresh();
      // Occupy and free scattered cells first, so the run's cells land out of order.
      await runPipeline(s, {
        tokens: Array.from({ length: 20 }, (_, i) => (i * 13) % 100),
        positions: Array.from({ length: 20 }, (_, i) => i),
        seqIds: Array.from({ length: 20 }, (_, i) => [1 + (i % 3)]),
      });
      await kvAll(s, { op: "seq_rm", seq: 2, p0: 0, p1: -1 });
      await kvAll(s, { op: "seq_rm", seq: 1, p0: 5, p1: 15 });
      const got = await chunked(s, [3, 4]);
      for (const [p, r] of got.entries()) {
        expect(r.hidden, `hidden at position ${p}`).toEqual(reference[p]!.hidden);
        expect(r.logits, `logits at position ${p}`).toEqual(reference[p]!.logits);
      }
    });
  });
}
