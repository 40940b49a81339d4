// The public API as the CLI uses it, through the package's own entry points: config + tokenizer + chat
// template from a model directory, shards split with splitShardSpecs and run in worker_threads, greedy
// decoding streamed to text. The tokens must be the golden ones.

import { describe, expect, it } from "vitest";
import {
  loadLayerShard,
  loadModelMeta,
  splitShardSpecs,
  StreamDecoder,
  type LayerShard,
} from "@pipemesh/engine";
import { createNodeShardClient, openModelDir } from "@pipemesh/engine/node";
import { loadGolden, modelFixtureDir, PRIMARY_FIXTURE } from "../fixtures/fixtures.ts";
import { greedyGenerate } from "../suites/pipeline.ts";

describe("engine API (as the CLI uses it)", () => {
  it("loads meta, chats, and generates the golden tokens on 2 worker shards", async () => {
    const dir = modelFixtureDir(PRIMARY_FIXTURE);
    const meta = await loadModelMeta(openModelDir(dir));
    expect(meta.config.numLayers).toBe(3);
    expect(meta.stopTokenIds).toEqual([2]);
    const ids = meta.tokenizer.encodeChat([{ role: "user", content: "Hello" }]);
    expect(meta.tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(
      "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    );

    const specs = splitShardSpecs(
      { model: dir, backend: "cpu", kvCells: 128 },
      meta.config.numLayers,
      2,
    );
    expect(specs.map((s) => [s.layerStart, s.layerEnd, s.embeds, s.tail])).toEqual([
      [0, 2, true, false],
      [2, 3, false, true],
    ]);
    const shards: LayerShard[] = await Promise.all(specs.map((s) => createNodeShardClient(s)));
    try {
      const { golden } = loadGolden(PRIMARY_FIXTURE);
      const tokens = await greedyGenerate(shards, golden.prompt, golden.greedy.length);
      expect(tokens).toEqual(golden.greedy);
      const stream = new StreamDecoder(meta.tokenizer, { contextIds: golden.prompt });
      const text = tokens.map((t) => stream.push(t)).join("") + stream.flush();
      expect(text).toBe(stream.text);
      expect(stream.text.length).toBeGreaterThan(0);
    } finally {
      await Promise.all(shards.map((s) => s.destroy()));
    }
  });

  it("loads a shard in process from a path with openModelDir", async () => {
    const shard = await loadLayerShard(
      {
        model: modelFixtureDir(PRIMARY_FIXTURE),
        layerStart: 0,
        layerEnd: 3,
        embeds: true,
        tail: true,
        backend: "cpu",
        kvCells: 16,
      },
      { openDir: openModelDir },
    );
    expect(shard.info).toMatchObject({ backend: "cpu", adapter: "cpu", kvCells: 16, maxSeqs: 64 });
    await shard.destroy();
  });

  it("refuses a file system path without openDir, naming the fix", async () => {
    const spec = {
      model: modelFixtureDir(PRIMARY_FIXTURE),
      layerStart: 0,
      layerEnd: 3,
      embeds: true,
      tail: true,
      kvCells: 16,
    };
    await expect(loadLayerShard({ ...spec, backend: "cpu" })).rejects.toThrow(
      /ERR_FETCH.*openModelDir/,
    );
  });
});
