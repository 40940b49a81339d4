// Modelled compute for benchmarks (the `paper` scenario): a stage that is busy for a modelled time per run
// (stageMs + rowMs per extra row), split into per-layer slices so a cancel cuts it short, before running the
// real shard (whose tokens stay exact). Labelled "modelled" wherever its numbers are reported.

import { MeshError, type StageBatch, type StageKvOp, type StageResult } from "@pipemesh/mesh";
import type { LoadedStage } from "@pipemesh/mesh";

export interface ModelledCompute {
  /** Busy time of a one-row run. */
  stageMs: number;
  /** Extra busy time per additional row. */
  rowMs: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new MeshError("ERR_ABORTED", "run cancelled"));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new MeshError("ERR_ABORTED", "run cancelled"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function modelledStage(
  inner: LoadedStage,
  model: ModelledCompute,
  layers: number,
): LoadedStage {
  const slices = Math.max(1, layers);
  return {
    async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
      const rows = batch.positions.length;
      const busyMs = model.stageMs + model.rowMs * Math.max(0, rows - 1);
      for (let i = 0; i < slices; i++) await sleep(busyMs / slices, signal);
      return inner.run(batch, signal);
    },
    kv(op: StageKvOp): Promise<void> {
      return inner.kv(op);
    },
    destroy(): void | Promise<void> {
      return inner.destroy?.();
    },
  };
}
