// A contributor leaves on pagehide, and when its shard reports a lost GPU device, out of memory or a dead
// worker (directly, wrapped as a load failure, or as text that crossed a worker boundary), exactly once;
// other failures (a bad batch, NaN outputs) leave it serving.
import { EngineError } from "@pipemesh/engine";
import type { LoadedStage, StageBatch } from "@pipemesh/mesh";
import { describe, expect, it } from "vitest";
import {
  fatalShardError,
  leaveOnPageHide,
  watchShard,
} from "../../src/room/contributor-lifecycle.ts";

const batch: StageBatch = {
  positions: Int32Array.of(0),
  seqIds: [[0]],
  outputRows: Int32Array.of(0),
};

describe("contributor lifecycle", () => {
  it("reads the fatal code from the error, its causes, its message or a WebGPU OOM", () => {
    expect(fatalShardError(new EngineError("ERR_GPU_LOST", "device lost"))?.code).toBe(
      "ERR_GPU_LOST",
    );
    const wrapped = new Error("layers 0-4 failed to load", {
      cause: new Error("ERR_GPU_OOM: 2 GiB buffer"),
    });
    expect(fatalShardError(wrapped)?.code).toBe("ERR_GPU_OOM");
    expect(
      fatalShardError(new Error("stage s1 run 4: ERR_WORKER_DIED: shard worker died"))?.code,
    ).toBe("ERR_WORKER_DIED");
    const oom = Object.assign(new Error("Out of memory"), { name: "GPUOutOfMemoryError" });
    expect(fatalShardError(oom)?.code).toBe("ERR_GPU_OOM");
    expect(fatalShardError(new EngineError("ERR_BATCH_INVALID", "bad rows"))).toBeNull();
    expect(fatalShardError(new Error("ERR_NONFINITE: NaN"))).toBeNull();
  });

  it("reports a fatal run failure once, after rethrowing it to the caller", async () => {
    const reasons: string[] = [];
    let fail: Error = new EngineError("ERR_BATCH_INVALID", "bad rows");
    const stage: LoadedStage = {
      run: () => Promise.reject(fail),
      kv: () => Promise.resolve(),
      weightBytes: 10,
    };
    const load = watchShard(
      () => Promise.resolve(stage),
      (r) => reasons.push(r.code),
    );
    const watched = await load(
      {} as Parameters<typeof load>[0],
      () => {},
      new AbortController().signal,
    );
    expect(watched.weightBytes).toBe(10);
    await expect(watched.run(batch)).rejects.toThrow(/ERR_BATCH_INVALID/);
    fail = new EngineError("ERR_GPU_LOST", "device lost: destroyed");
    await expect(watched.run(batch)).rejects.toThrow(/ERR_GPU_LOST/);
    await expect(watched.run(batch)).rejects.toThrow(/ERR_GPU_LOST/);
    await Promise.resolve();
    expect(reasons).toEqual(["ERR_GPU_LOST"]);
  });

  it("reports an out-of-memory load failure", async () => {
    const reasons: string[] = [];
    const load = watchShard(
      () =>
        Promise.reject(new Error("load failed", { cause: new EngineError("ERR_GPU_OOM", "x") })),
      (r) => reasons.push(r.code),
    );
    await expect(
      load({} as Parameters<typeof load>[0], () => {}, new AbortController().signal),
    ).rejects.toThrow(/load failed/);
    await Promise.resolve();
    expect(reasons).toEqual(["ERR_GPU_OOM"]);
  });

  it("leaves on pagehide until told to stop listening", () => {
    const page = new EventTarget();
    let left = 0;
    const stop = leaveOnPageHide(() => left++, page);
    page.dispatchEvent(new Event("pagehide"));
    expect(left).toBe(1);
    stop();
    page.dispatchEvent(new Event("pagehide"));
    expect(left).toBe(1);
  });
});
