// What the planner sizes stages with: loadModelBytes (the stored bytes of every layer, the table and the
// head, from tensor headers only) against the files themselves, parsed here independently of the loader
// (safetensors JSON headers; GGUF fixtures' golden tensor lists), and modelFootprint (config-only float32
// arithmetic) as an upper bound of what the loader holds.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { loadModelBytes } from "../../src/loader/model-bytes.ts";
import { loadShardWeights } from "../../src/loader/load-weights.ts";
import { modelFootprint } from "../../src/model/footprint.ts";
import { shardWeightBytes } from "../../src/model/weights.ts";
import { FileModelDir, openModelDir } from "../../src/node/file-source.ts";
import { MODEL_FIXTURES, modelFixtureDir } from "../fixtures/fixtures.ts";
import {
  GGUF_FIXTURES,
  ggufFixturePath,
  goldenTensorBytes,
  loadGgufGolden,
} from "../fixtures/gguf-fixtures.ts";

/** Tensor name -> byte size, from the raw safetensors headers of a directory. */
function safetensorsSizes(dir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".safetensors"))) {
    const bytes = readFileSync(join(dir, f));
    const len = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString("utf8")) as Record<
      string,
      { data_offsets: [number, number] }
    >;
    for (const [name, t] of Object.entries(header)) {
      if (name !== "__metadata__") sizes.set(name, t.data_offsets[1] - t.data_offsets[0]);
    }
  }
  return sizes;
}

describe("loadModelBytes", () => {
  for (const name of MODEL_FIXTURES) {
    it(`${name}: equals the safetensors headers' tensor sizes`, async () => {
      const dir = new FileModelDir(modelFixtureDir(name));
      const config = await loadModelConfig(dir);
      const sizes = safetensorsSizes(modelFixtureDir(name));
      const bytes = await loadModelBytes(dir, config);
      for (let l = 0; l < config.numLayers; l++) {
        let want = 0;
        for (const [t, b] of sizes) if (t.startsWith(`model.layers.${l}.`)) want += b;
        expect(bytes.layerBytes[l], `layer ${l}`).toBe(want);
      }
      const embed = sizes.get("model.embed_tokens.weight") ?? 0;
      expect(bytes.embedBytes).toBe(embed);
      const head = config.tieWordEmbeddings ? embed : (sizes.get("lm_head.weight") ?? 0);
      expect(bytes.headBytes).toBe((sizes.get("model.norm.weight") ?? 0) + head);
    });
  }

  for (const name of GGUF_FIXTURES) {
    it(`${name}.gguf: equals the golden's tensor list (types and dims)`, async () => {
      const golden = loadGgufGolden(name);
      const dir = openModelDir(ggufFixturePath(name));
      const config = await loadModelConfig(dir);
      const size = (t: string): number => goldenTensorBytes(golden, t);
      const bytes = await loadModelBytes(dir, config);
      for (let l = 0; l < config.numLayers; l++) {
        let want = 0;
        for (const t of Object.keys(golden.tensors)) if (t.startsWith(`blk.${l}.`)) want += size(t);
        expect(bytes.layerBytes[l], `layer ${l}`).toBe(want);
      }
      expect(bytes.embedBytes).toBe(size("token_embd.weight"));
      const head = golden.config.tieWordEmbeddings
        ? size("token_embd.weight")
        : size("output.weight");
      expect(bytes.headBytes).toBe(size("output_norm.weight") + head);
    });
  }
});

describe("modelFootprint (float32 arithmetic)", () => {
  for (const name of MODEL_FIXTURES) {
    it(`${name}: bounds the loaded weights from above`, async () => {
      const dir = new FileModelDir(modelFixtureDir(name));
      const config = await loadModelConfig(dir);
      const fp = modelFootprint(config);
      const L = config.numLayers;
      const layersOnly = await loadShardWeights(dir, config, {
        layerStart: 0,
        layerEnd: L,
        embeds: false,
        tail: false,
      });
      expect(shardWeightBytes(layersOnly)).toBeLessThanOrEqual(L * fp.layerBytes);
      expect(shardWeightBytes(layersOnly)).toBeGreaterThan(0);
      expect(fp.kvBytesPerCellPerLayer).toBe(2 * config.kvDim * 4);
    });
  }
});
