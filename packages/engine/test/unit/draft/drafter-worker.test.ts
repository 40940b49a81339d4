// The drafter in its own worker (a Node worker_thread here; the browser's Web Worker runs the same
// drafter.worker.ts in ort-drafter.parity.test.ts): load progress across the boundary, predictions equal to
// the in-process ORT drafter's, coded errors, abort, the ready-handshake timeout, and every pending call
// rejected with ERR_WORKER_DIED when the worker dies.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DraftLoadProgress } from "../../../src/draft/ort-load.ts";
import { loadOrtDrafter } from "../../../src/draft/ort-load.ts";
import type { OrtDrafter } from "../../../src/draft/ort-drafter.ts";
import { isEngineError } from "../../../src/errors.ts";
import { openModelDir } from "../../../src/node/file-source.ts";
import {
  createNodeDrafterClient,
  spawnNodeDrafterWorker,
} from "../../../src/node/spawn-drafter-worker.ts";
import { DrafterClient } from "../../../src/worker/drafter-client.ts";
import { modelFixtureDir } from "../../fixtures/fixtures.ts";
import {
  loadOnnxExpected,
  ONNX_DRAFT_DIR,
  ONNX_DRAFT_TARGET,
} from "../../support/onnx-fixtures.ts";
import { bitsOf } from "../../suites/backends.ts";

describe("DrafterClient (worker_thread)", () => {
  let local: OrtDrafter;
  let client: DrafterClient;
  const progress: DraftLoadProgress[] = [];

  beforeAll(async () => {
    local = await loadOrtDrafter({ draftDir: ONNX_DRAFT_DIR, openDir: openModelDir });
    client = await createNodeDrafterClient(
      { draftDir: ONNX_DRAFT_DIR, targetVocab: { vocabSize: 320 } },
      { onProgress: (p) => progress.push(p) },
    );
  }, 60_000);

  afterAll(async () => {
    await local?.destroy();
    await client?.destroy();
  });

  it("loads with progress and drafts what the in-process drafter drafts, bit for bit", async () => {
    expect(client.info).toMatchObject({
      kind: "ort",
      name: "onnxruntime-web",
      vocabSize: 320,
      maxPositions: 256,
      executionProvider: "wasm",
    });
    expect(progress.map((p) => p.phase)).toContain("read");
    expect(progress.at(-1)?.phase).toBe("ready");
    for (const c of loadOnnxExpected().cases) {
      const ctx = Int32Array.from(c.prompt_ids);
      const contexts = [
        ctx,
        Int32Array.from([...c.prompt_ids, 7]),
        Int32Array.from([...c.prompt_ids, 9]),
      ];
      const [a, b] = await Promise.all([
        client.predict(contexts, { topK: 4, wantProbs: true }),
        local.predict(contexts, { topK: 4, wantProbs: true }),
      ]);
      expect(a[0]!.topIds[0]).toBe(c.next_id_torch);
      a.forEach((p, i) => {
        expect(Array.from(p.topIds)).toEqual(Array.from(b[i]!.topIds));
        expect(bitsOf(p.probs!)).toEqual(bitsOf(b[i]!.probs!));
      });
      await client.accept(ctx);
    }
    const stats = await client.stats();
    expect(stats["runs"]).toBeGreaterThan(0);
    await client.reset();
    expect((await client.stats())["kvBytes"]).toBe(0);
  });

  it("errors keep their codes across the boundary; an aborted signal aborts", async () => {
    await expect(client.predict([Int32Array.of()], { topK: 1 })).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_BATCH_INVALID"),
    );
    const ac = new AbortController();
    ac.abort();
    await expect(client.predict([Int32Array.of(1)], { topK: 1 }, ac.signal)).rejects.toSatisfy(
      (e) => isEngineError(e, "ERR_ABORTED"),
    );
    await expect(
      createNodeDrafterClient({ draftDir: modelFixtureDir(ONNX_DRAFT_TARGET), kind: "ort" }),
    ).rejects.toSatisfy((e) => isEngineError(e, "ERR_ONNX") && /onnx\/model\.onnx/.test(e.message));
  });

  it("a silent worker is ERR_WORKER_NOT_READY", async () => {
    const silent = new URL("../../fixtures/silent-worker.mjs", import.meta.url);
    await expect(
      DrafterClient.create(
        spawnNodeDrafterWorker(silent),
        { draftDir: ONNX_DRAFT_DIR },
        { readyTimeoutMs: 300 },
      ),
    ).rejects.toSatisfy((e) => isEngineError(e, "ERR_WORKER_NOT_READY"));
  });

  it("rejects pending and later calls with ERR_WORKER_DIED when the worker dies", async () => {
    const handle = spawnNodeDrafterWorker();
    const c = await DrafterClient.create(handle, { draftDir: ONNX_DRAFT_DIR });
    const long = Int32Array.from({ length: 200 }, (_, i) => (i * 7) % 320);
    const pending = c.predict([long], { topK: 2 });
    await handle.worker.terminate(); // dies from outside, as a crash would
    await expect(pending).rejects.toSatisfy((e) => isEngineError(e, "ERR_WORKER_DIED"));
    await expect(c.accept(long)).rejects.toSatisfy((e) => isEngineError(e, "ERR_WORKER_DIED"));
    await c.destroy();
    await c.destroy();
  });

  it("after destroy every call is ERR_DESTROYED", async () => {
    await client.destroy();
    await client.destroy();
    await expect(client.predict([Int32Array.of(1)], { topK: 1 })).rejects.toSatisfy((e) =>
      isEngineError(e, "ERR_DESTROYED"),
    );
  });
});
