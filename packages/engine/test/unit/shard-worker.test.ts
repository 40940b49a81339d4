// ShardClient over real worker_threads: results equal the in-process shard's, errors cross with their
// code, abort reaches the worker's run, per-call timeouts, the ready handshake, and every pending call
// rejected with ERR_WORKER_DIED when the worker dies.

import { afterEach, describe, expect, it } from "vitest";
import { EngineError, isEngineError } from "../../src/errors.ts";
import type { LoadProgress } from "../../src/loader/load-weights.ts";
import type { LayerShard } from "../../src/model/batch.ts";
import type { ShardSpec } from "../../src/model/shard-spec.ts";
import { createNodeShardClient, spawnNodeShardWorker } from "../../src/node/spawn-worker.ts";
import { ShardClient } from "../../src/worker/shard-client.ts";
import { loadGolden, modelFixtureDir, PRIMARY_FIXTURE } from "../fixtures/fixtures.ts";
import { makeShards } from "../suites/backends.ts";
import { greedyGenerate, runPipeline } from "../suites/pipeline.ts";

const golden = loadGolden(PRIMARY_FIXTURE).golden;
const spec: ShardSpec = {
  model: modelFixtureDir(PRIMARY_FIXTURE),
  layerStart: 0,
  layerEnd: 3,
  embeds: true,
  tail: true,
  backend: "cpu",
  kvCells: 512,
};

const live: LayerShard[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((s) => s.destroy()));
});

async function client(options = {}): Promise<ShardClient> {
  const c = await createNodeShardClient(spec, options);
  live.push(c);
  return c;
}

/** A prefill big enough to keep the worker busy for a while (hundreds of rows). */
function bigBatch(rows: number) {
  return {
    tokens: Int32Array.from({ length: rows }, (_, i) => 3 + (i % 200)),
    positions: Int32Array.from({ length: rows }, (_, i) => i),
    seqIds: Array.from({ length: rows }, () => [0]),
    outputRows: Int32Array.of(rows - 1),
  };
}

describe("ShardClient (worker_threads)", () => {
  it("loads with progress, reports info and generates the golden tokens", async () => {
    const progress: LoadProgress[] = [];
    const c = await client({ onProgress: (p: LoadProgress) => progress.push(p) });
    const last = progress[progress.length - 1];
    expect(last?.doneBytes).toBe(last?.totalBytes);
    expect(last?.totalBytes).toBeGreaterThan(300_000); // the fixture's f32 tensors (~370 KB)
    expect(c.info).toMatchObject({
      layerStart: 0,
      layerEnd: 3,
      backend: "cpu",
      embeds: true,
      tail: true,
    });
    expect(await greedyGenerate([c], golden.prompt, golden.greedy.length)).toEqual(golden.greedy);
    expect(await c.kvUsed()).toBe(golden.prompt.length + golden.greedy.length - 1);
  });

  it("returns exactly what the in-process shard returns", async () => {
    const [local] = await makeShards("cpu", PRIMARY_FIXTURE);
    live.push(local!);
    const remote = await client();
    const rows = {
      tokens: golden.prompt,
      positions: golden.prompt.map((_, i) => i),
      logitsRows: [7],
    };
    const a = await runPipeline([local!], rows);
    const b = await runPipeline([remote], rows);
    expect(b.outputs).toEqual(a.outputs);
  });

  it("rebuilds worker errors as EngineError with code and message", async () => {
    const c = await client();
    const err: unknown = await c
      .run({
        tokens: Int32Array.of(1),
        positions: Int32Array.of(0),
        seqIds: [[99]],
        outputRows: Int32Array.of(0),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe("ERR_KV_SEQ");
    expect((err as EngineError).message).toMatch(/^ERR_KV_SEQ: .*sequence id 99/);
    // The worker is still usable after an error.
    expect(await c.kvUsed()).toBe(0);
  });

  it("fails to load with the worker's coded error", async () => {
    await expect(createNodeShardClient({ ...spec, layerEnd: 9 })).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_BATCH_INVALID"),
    );
    await expect(
      createNodeShardClient({ ...spec, model: "/nonexistent/model-dir" }),
    ).rejects.toSatisfy((e) => isEngineError(e, "ERR_FETCH"));
  });

  it("aborts an in-flight run in the worker and leaves its cache as before", async () => {
    const c = await client();
    await c.run(bigBatch(4));
    const controller = new AbortController();
    const run = c.run(
      { ...bigBatch(240), positions: Int32Array.from({ length: 240 }, (_, i) => 4 + i) },
      controller.signal,
    );
    controller.abort();
    await expect(run).rejects.toSatisfy((e) => isEngineError(e, "ERR_ABORTED"));
    expect(await c.kvUsed()).toBe(4);
  });

  it("times out a call that takes too long", async () => {
    const c = await client({ runTimeoutMs: 5 });
    await expect(c.run(bigBatch(250))).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_WORKER_TIMEOUT"),
    );
    // The timed-out run was aborted in the worker; later calls still work.
    expect(await c.kvUsed()).toBe(0);
  });

  it("rejects every pending call with ERR_WORKER_DIED when the worker dies", async () => {
    const handle = spawnNodeShardWorker();
    const c = await ShardClient.create(handle, spec);
    live.push(c);
    const pending = [c.run(bigBatch(250)), c.kvUsed(), c.kv({ op: "clear" })];
    await handle.worker.terminate(); // dies from outside, as a crash would
    for (const p of pending)
      await expect(p).rejects.toSatisfy((e) => isEngineError(e, "ERR_WORKER_DIED"));
    await expect(c.kvUsed()).rejects.toSatisfy((e) => isEngineError(e, "ERR_WORKER_DIED"));
  });

  it("fails the ready handshake with ERR_WORKER_NOT_READY", async () => {
    const silent = new URL("../fixtures/silent-worker.mjs", import.meta.url);
    const handle = spawnNodeShardWorker(silent);
    await expect(ShardClient.create(handle, spec, { readyTimeoutMs: 300 })).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_WORKER_NOT_READY"),
    );
  });

  it("rejects calls after destroy with ERR_DESTROYED, and destroy is idempotent", async () => {
    const c = await client();
    await c.destroy();
    await c.destroy();
    await expect(c.kvUsed()).rejects.toSatisfy((e) => isEngineError(e, "ERR_DESTROYED"));
  });
});
