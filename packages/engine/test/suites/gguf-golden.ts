// GGUF fixtures on a backend against transformers' float64 goldens: greedy tokens identical, whole model
// and split into shards at every layer boundary (so Q/K un-permutation, mixed types per tensor, tied
// quantized tables and biases all meet the golden through every shard role). The CPU unit test and the
// WebGPU parity test run this same suite. Test-only.

import { afterAll, describe, expect, it } from "vitest";
import type { LayerShard } from "../../src/model/batch.ts";
import { loadLayerShard } from "../../src/model/create-shard.ts";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { splitLayers, type ShardBackend } from "../../src/model/shard-spec.ts";
import { openModelDir } from "../../src/node/file-source.ts";
import {
  GGUF_FIXTURES,
  ggufFixturePath,
  loadGgufGolden,
  type GgufFixture,
} from "../fixtures/gguf-fixtures.ts";
import { destroyAll } from "./backends.ts";
import { greedyGenerate } from "./pipeline.ts";

async function ggufShards(
  backend: ShardBackend,
  fixture: GgufFixture,
  boundaries: readonly number[],
): Promise<LayerShard[]> {
  const path = ggufFixturePath(fixture);
  const config = await loadModelConfig(openModelDir(path));
  const ranges = splitLayers(config.numLayers, boundaries.length + 1, boundaries);
  return Promise.all(
    ranges.map((r) =>
      loadLayerShard(
        { model: path, ...r, backend, kvCells: 48 },
        { openDir: openModelDir, config },
      ),
    ),
  );
}

export function ggufGoldenSuite(backend: ShardBackend): void {
  const created: LayerShard[] = [];
  afterAll(() => destroyAll(created));

  describe.each(GGUF_FIXTURES)(`GGUF on ${backend} vs float64 golden: %s`, (fixture) => {
    const golden = loadGgufGolden(fixture);

    it("greedy tokens are identical (whole model)", async () => {
      const shards = await ggufShards(backend, fixture, []);
      created.push(...shards);
      const tokens = await greedyGenerate(shards, golden.prompt, golden.greedy.length);
      expect(tokens).toEqual(golden.greedy);
    });

    it("greedy tokens are identical with one shard per layer", async () => {
      const layers = golden.config.numLayers;
      const cuts = Array.from({ length: layers - 1 }, (_, i) => i + 1);
      const shards = await ggufShards(backend, fixture, cuts);
      created.push(...shards);
      const tokens = await greedyGenerate(shards, golden.prompt, golden.greedy.length);
      expect(tokens).toEqual(golden.greedy);
    });
  });
}
