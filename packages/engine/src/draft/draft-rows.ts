// Running a plan's rows (kv-plan.ts) through a whole-model shard: at most maxBatchRows rows per run, in
// order (parents before children, so later runs see earlier cells), and each output row's prediction cached
// on its trie node (top-k from the shard; full probabilities as softmax of the logits when asked).

import { EngineError } from "../errors.ts";
import { softmaxRef } from "../kernels/reference.ts";
import type { LayerShard } from "../model/batch.ts";
import type { PlanRow } from "./kv-plan.ts";
import { mergePrediction } from "./prefix-cache.ts";

export interface DraftRowsOptions {
  topK: number;
  wantProbs: boolean;
  maxBatchRows: number;
  /** Called after each completed shard run. */
  onRun?: (() => void) | undefined;
}

export async function runDraftRows(
  shard: LayerShard,
  rows: readonly PlanRow[],
  options: DraftRowsOptions,
  signal?: AbortSignal,
): Promise<void> {
  const { topK, wantProbs, maxBatchRows } = options;
  for (let start = 0; start < rows.length; start += maxBatchRows) {
    const chunk = rows.slice(start, start + maxBatchRows);
    // A chunk of a long prefill may want no output; its last row's prediction is cached anyway, so no run
    // asks the head for zero rows.
    const wanted = chunk.flatMap((r, i) => (r.output ? [i] : []));
    const outputRows = Int32Array.from(wanted.length > 0 ? wanted : [chunk.length - 1]);
    const result = await shard.run(
      {
        tokens: Int32Array.from(chunk, (r) => r.node.token),
        positions: Int32Array.from(chunk, (r) => r.node.depth - 1),
        seqIds: chunk.map((r) => r.seqIds),
        outputRows,
        logitsRows: wantProbs ? outputRows : undefined,
        topK,
      },
      signal,
    );
    options.onRun?.();
    const outputs = result.outputs ?? [];
    if (outputs.length !== outputRows.length) {
      throw new EngineError(
        "ERR_INTERNAL",
        `${outputs.length} outputs for ${outputRows.length} rows`,
      );
    }
    for (const o of outputs) {
      const node = chunk[o.row]?.node;
      if (node === undefined) throw new EngineError("ERR_INTERNAL", `output for row ${o.row}`);
      if (wantProbs && o.logits === undefined) {
        throw new EngineError("ERR_INTERNAL", `row ${o.row}: the shard returned no logits`);
      }
      const probs = wantProbs && o.logits !== undefined ? softmaxRef(o.logits) : undefined;
      node.prediction = mergePrediction(node.prediction, {
        topIds: o.topIds,
        topProbs: o.topProbs,
        probs,
      });
    }
  }
}
