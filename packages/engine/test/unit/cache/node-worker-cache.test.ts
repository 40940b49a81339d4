// The Node shard worker with a cache directory: a shard loaded over HTTP a second time (a new worker, as
// a rejoining peer would) fetches no weight bytes and computes the same result; without one it fetches
// them again.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ShardSpec } from "../../../src/model/shard-spec.ts";
import { createNodeShardClient } from "../../../src/node/spawn-worker.ts";
import { FIXTURES_DIR, PRIMARY_FIXTURE } from "../../fixtures/fixtures.ts";
import { startRangeServer, type RangeServer } from "../../support/range-server.ts";

let server: RangeServer;
let dir: string;

beforeAll(async () => {
  server = await startRangeServer({ dir: FIXTURES_DIR });
  dir = await mkdtemp(join(tmpdir(), "pipemesh-worker-cache-"));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("Node shard worker with the weight cache", () => {
  it("a second load fetches no weight bytes and gives the same hidden states", async () => {
    const spec: ShardSpec = {
      model: `${server.base}/fs/models/${PRIMARY_FIXTURE}`,
      layerStart: 0,
      layerEnd: 2,
      embeds: true,
      tail: false,
      backend: "cpu",
      kvCells: 64,
    };
    const batch = {
      tokens: Int32Array.of(3, 7, 11, 5),
      positions: Int32Array.of(0, 1, 2, 3),
      seqIds: [[0], [0], [0], [0]],
      outputRows: Int32Array.of(3),
    };
    server.reset();
    const first = await createNodeShardClient(spec, { cacheDir: dir });
    const fetched = server.bodyBytes(".safetensors");
    expect(fetched).toBeGreaterThan(100_000);
    const h1 = (await first.run(batch)).hidden;
    await first.destroy();

    server.reset();
    const second = await createNodeShardClient(spec, { cacheDir: dir });
    expect(server.bodyBytes(".safetensors")).toBe(0);
    expect(server.heads()).toBeGreaterThan(0);
    expect((await second.run(batch)).hidden).toEqual(h1);
    await second.destroy();

    server.reset();
    const uncached = await createNodeShardClient(spec);
    expect(server.bodyBytes(".safetensors")).toBe(fetched);
    await uncached.destroy();
  });
});
