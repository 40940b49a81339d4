// Backends under test and how to build shards of a fixture model on them. The invariance suites in this
// folder take a backend name, so the WebGPU parity tests run the very same checks as the CPU unit tests.
// Test-only.

import { loadLayerShard } from "../../src/model/create-shard.ts";
import type { LayerShard } from "../../src/model/batch.ts";
import { splitLayers, type ShardBackend } from "../../src/model/shard-spec.ts";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { openModelDir } from "../../src/node/file-source.ts";
import type { ModelConfig } from "../../src/config.ts";
import { createNodeShardClient } from "../../src/node/spawn-worker.ts";
import { modelFixtureDir, type ModelFixture } from "../fixtures/fixtures.ts";
import { GGUF_FIXTURES, ggufFixturePath, type GgufFixture } from "../fixtures/gguf-fixtures.ts";

/** Backends the unit project runs (no GPU needed). The parity project adds "webgpu". */
export const UNIT_BACKENDS: readonly ShardBackend[] = ["cpu"];

export interface ShardOptions {
  kvCells?: number;
  maxSeqs?: number;
  topK?: number;
}

export async function fixtureConfig(fixture: ModelFixture): Promise<ModelConfig> {
  return loadModelConfig(openModelDir(modelFixtureDir(fixture)));
}

/** A fixture's model location: its directory, or the `.gguf` file of a GGUF fixture. */
export function fixtureLocation(fixture: ModelFixture | GgufFixture): string {
  return (GGUF_FIXTURES as readonly string[]).includes(fixture)
    ? ggufFixturePath(fixture as GgufFixture)
    : modelFixtureDir(fixture as ModelFixture);
}

/** One shard per range of `boundaries` (empty: the whole model in one shard), in process. */
export async function makeShards(
  backend: ShardBackend,
  fixture: ModelFixture | GgufFixture,
  boundaries: readonly number[] = [],
  options: ShardOptions = {},
): Promise<LayerShard[]> {
  const model = fixtureLocation(fixture);
  const config = await loadModelConfig(openModelDir(model));
  const ranges = splitLayers(config.numLayers, boundaries.length + 1, boundaries);
  return Promise.all(
    ranges.map((r) =>
      loadLayerShard(
        {
          model,
          ...r,
          backend,
          kvCells: options.kvCells ?? 64,
          maxSeqs: options.maxSeqs,
          topK: options.topK,
        },
        { openDir: openModelDir, config },
      ),
    ),
  );
}

export async function destroyAll(shards: readonly LayerShard[]): Promise<void> {
  await Promise.all(shards.map((s) => s.destroy()));
}

/** Like makeShards, but every shard runs in its own worker_thread behind a ShardClient. */
export async function makeWorkerShards(
  backend: ShardBackend,
  fixture: ModelFixture,
  boundaries: readonly number[] = [],
  options: ShardOptions = {},
): Promise<LayerShard[]> {
  const config = await fixtureConfig(fixture);
  const ranges = splitLayers(config.numLayers, boundaries.length + 1, boundaries);
  const settled = await Promise.allSettled(
    ranges.map((r) =>
      createNodeShardClient({
        model: modelFixtureDir(fixture),
        ...r,
        backend,
        kvCells: options.kvCells ?? 64,
        maxSeqs: options.maxSeqs,
        topK: options.topK,
      }),
    ),
  );
  const shards = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    await destroyAll(shards);
    throw failed.reason;
  }
  return shards;
}

/** Bitwise equality of float arrays (distinguishes -0 and +0, compares NaN payloads). */
export function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}
