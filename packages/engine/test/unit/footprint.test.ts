// modelFootprint (config-only arithmetic the planner uses) against the bytes the loader actually holds
// for whole shards of every fixture model: layers alone, the embedding table, and the final norm + head.

import { describe, expect, it } from "vitest";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { loadShardWeights } from "../../src/loader/load-weights.ts";
import { modelFootprint } from "../../src/model/footprint.ts";
import { shardWeightBytes } from "../../src/model/weights.ts";
import { FileModelDir } from "../../src/node/file-source.ts";
import { MODEL_FIXTURES, modelFixtureDir } from "../fixtures/fixtures.ts";

describe("modelFootprint", () => {
  for (const name of MODEL_FIXTURES) {
    it(`${name}: matches the loaded weights`, async () => {
      const dir = new FileModelDir(modelFixtureDir(name));
      const config = await loadModelConfig(dir);
      const fp = modelFootprint(config);
      const L = config.numLayers;
      const layersOnly = await loadShardWeights(dir, config, {
        layerStart: 0,
        layerEnd: L,
        embeds: false,
        head: false,
      });
      expect(shardWeightBytes(layersOnly)).toBe(L * fp.layerBytes);
      const embedOnly = await loadShardWeights(dir, config, {
        layerStart: 0,
        layerEnd: 0,
        embeds: true,
        head: false,
      });
      expect(shardWeightBytes(embedOnly)).toBe(fp.embedBytes);
      const headOnly = await loadShardWeights(dir, config, {
        layerStart: L,
        layerEnd: L,
        embeds: false,
        head: true,
      });
      expect(shardWeightBytes(headOnly)).toBe(fp.headBytes);
      expect(fp.kvBytesPerCellPerLayer).toBe(2 * config.kvDim * 4);
    });
  }
});
