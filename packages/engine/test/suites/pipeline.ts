// Drives a list of shards as one pipeline in process: tokens into the first, hidden states along, outputs
// from the last; plus greedy generation and KV ops on every shard. Test-only.

import type { KvOp, LayerShard, RowOutput, ShardResult } from "../../src/model/batch.ts";

export interface TestRows {
  tokens: number[];
  positions: number[];
  /** Per row; default [[0]] for every row. */
  seqIds?: number[][];
  /** Default: every row. */
  outputRows?: number[];
  logitsRows?: number[];
  topK?: number;
}

export interface PipelineRun {
  /** The hidden states each non-last shard returned, in order. */
  hidden: Float32Array[];
  outputs: RowOutput[];
}

export async function runPipeline(
  shards: readonly LayerShard[],
  rows: TestRows,
  signal?: AbortSignal,
): Promise<PipelineRun> {
  const n = rows.tokens.length;
  const base = {
    positions: Int32Array.from(rows.positions),
    seqIds: rows.seqIds ?? rows.tokens.map(() => [0]),
    outputRows: Int32Array.from(rows.outputRows ?? rows.tokens.map((_, i) => i)),
    logitsRows: rows.logitsRows === undefined ? undefined : Int32Array.from(rows.logitsRows),
    topK: rows.topK,
  };
  const hidden: Float32Array[] = [];
  let result: ShardResult | undefined;
  for (const [i, shard] of shards.entries()) {
    const input =
      i === 0 ? { tokens: Int32Array.from(rows.tokens) } : { hidden: hidden[hidden.length - 1] };
    result = await shard.run({ ...base, ...input }, signal);
    if (i < shards.length - 1) {
      if (result.hidden === undefined || result.hidden.length % n !== 0) {
        throw new Error(`shard ${i} returned no hidden states`);
      }
      hidden.push(result.hidden);
    }
  }
  return { hidden, outputs: result?.outputs ?? [] };
}

export async function kvAll(shards: readonly LayerShard[], op: KvOp): Promise<void> {
  for (const s of shards) await s.kv(op);
}

/** Prefills `prompt` at positions start.. and decodes `steps` tokens greedily in sequence `seq`. */
export async function greedyGenerate(
  shards: readonly LayerShard[],
  prompt: readonly number[],
  steps: number,
  options: { seq?: number; start?: number } = {},
): Promise<number[]> {
  const seq = options.seq ?? 0;
  const start = options.start ?? 0;
  const out: number[] = [];
  const first = await runPipeline(shards, {
    tokens: [...prompt],
    positions: prompt.map((_, i) => start + i),
    seqIds: prompt.map(() => [seq]),
    outputRows: [prompt.length - 1],
  });
  let next = first.outputs[0]?.argmax ?? -1;
  let pos = start + prompt.length;
  for (let i = 0; i < steps; i++) {
    out.push(next);
    if (i === steps - 1) break;
    const r = await runPipeline(shards, { tokens: [next], positions: [pos], seqIds: [[seq]] });
    next = r.outputs[0]?.argmax ?? -1;
    pos++;
  }
  return out;
}
