// Toy stages for a head that embeds: the head holds a ToyStage over layers [0, 0) (embedding only), and
// remote stages take hidden states even when their range starts at layer 0 (ToyStage assumes that a range
// starting at 0 embeds, which is true only without a separate head shard). And a runner that lies: it
// rewrites its results from its n-th run on (faulty-stage tests).

import type { StageBatch, StageKvOp, StageResult, StageRunner } from "../../src/ports.ts";
import { createToyStages, ToyStage, type ToyModel, type ToyStagesOptions } from "./toy-model.ts";

class HiddenInToyStage extends ToyStage {
  override get embeds(): boolean {
    return false;
  }
}

/** The head's shard: embeddings and no layers. */
export function toyHeadStage(model: ToyModel, kvCells = 1024): ToyStage {
  return new ToyStage(model, { layerStart: 0, layerEnd: 0, kvCells, maxSeqs: 64 });
}

/** One remote stage holding [layerStart, layerEnd) that receives hidden states. */
export function toyRemoteStage(
  model: ToyModel,
  layerStart: number,
  layerEnd: number,
  kvCells = 1024,
): ToyStage {
  return new HiddenInToyStage(model, { layerStart, layerEnd, kvCells, maxSeqs: 64 });
}

/** createToyStages, but every stage receives hidden states (the head embeds). */
export function toyRemoteStages(model: ToyModel, options: ToyStagesOptions = {}): ToyStage[] {
  return createToyStages(model, options).map((s) =>
    toyRemoteStage(model, s.layerStart, s.layerEnd),
  );
}

/** Wraps a runner and rewrites its results from the `fromRun`-th run on (1-based). */
export function tamper(
  inner: StageRunner,
  fromRun: number,
  edit: (r: StageResult) => Promise<StageResult> | StageResult,
): StageRunner {
  let n = 0;
  return {
    async run(batch: StageBatch, signal?: AbortSignal): Promise<StageResult> {
      const r = await inner.run(batch, signal);
      return ++n >= fromRun ? edit(r) : r;
    },
    kv: (op: StageKvOp) => inner.kv(op),
  };
}
