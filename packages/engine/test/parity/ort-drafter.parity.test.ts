// The ORT drafter in headless Chromium, in its own Web Worker (createBrowserDrafterClient, through
// test/support/ort-harness/): greedy ids as PyTorch recorded them, and proposals equal to the engine
// drafter's (also in a worker, CPU backend) on the same weights, on the wasm provider and on WebGPU; "auto"
// times both and keeps the faster. One browser and one Vite server for the file; console errors fail.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { DraftPrediction } from "../../src/draft/draft-model.ts";
import { chromiumPath, launchChromium, type ChromiumSession } from "../support/chromium.ts";
import { startHarnessServer, type HarnessServer } from "../support/harness-server.ts";
import type {
  DraftReport,
  DraftRequest,
  DrafterHarness,
  PlainPrediction,
} from "../support/ort-harness/main.ts";
import { REQUIRE_WEBGPU } from "../support/node-gpu.ts";
import { loadOnnxExpected, ONNX_DRAFT_DIR } from "../support/onnx-fixtures.ts";
import { expectClosePrediction } from "../support/ort-reference.ts";

const browser = chromiumPath();
if (browser === null && REQUIRE_WEBGPU) {
  throw new Error(
    "REQUIRE_WEBGPU=1 but there is no Chromium (set CHROMIUM_PATH or install chromium)",
  );
}

const ORT_HARNESS_DIR = new URL("../support/ort-harness/", import.meta.url).pathname;
declare const drafterHarness: DrafterHarness;

const typed = (p: PlainPrediction): DraftPrediction => ({
  topIds: Int32Array.from(p.topIds),
  topProbs: Float32Array.from(p.topProbs),
  probs: p.probs === undefined ? undefined : Float32Array.from(p.probs),
});

/** Per case: the prompt accepted, then its 8-token greedy line and a sibling branch at each level. */
function fixtureBatches(vocab: number): Pick<DraftRequest, "batches" | "accepted"> {
  const batches: number[][][] = [];
  const accepted: (number[] | null)[] = [];
  for (const c of loadOnnxExpected().cases) {
    for (let level = 0; level < 8; level++) {
      const line = [...c.prompt_ids, ...c.greedy_8_torch.slice(0, level)];
      const sibling = [...line.slice(0, -1), ((line.at(-1) ?? 0) + 1) % vocab];
      batches.push(level === 0 ? [line] : [line, sibling]);
      accepted.push(level === 0 ? c.prompt_ids : null);
    }
  }
  return { batches, accepted };
}

describe.skipIf(browser === null)(
  "ORT drafter in Chromium (no Chromium: set CHROMIUM_PATH)",
  () => {
    let server: HarnessServer;
    let session: ChromiumSession;
    let page: Page;
    let hasGpu = false;
    const request = (
      kind: "ort" | "engine",
      executionProvider: "wasm" | "webgpu" | "auto",
    ): DraftRequest => ({
      draftDir: server.fsPath(ONNX_DRAFT_DIR),
      kind,
      executionProvider,
      ...fixtureBatches(320),
      topK: 4,
      wantProbs: true,
    });
    const draft = (req: DraftRequest): Promise<DraftReport> =>
      page.evaluate((r) => drafterHarness.draft(r), req);

    beforeAll(async () => {
      server = await startHarnessServer(ORT_HARNESS_DIR);
      session = await launchChromium();
      page = await session.newPage();
      await page.goto(server.url);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
      hasGpu = await page.evaluate(async () => (await navigator.gpu?.requestAdapter()) != null);
    });

    afterEach(() => {
      const errors = session.errors.splice(0);
      expect(errors).toEqual([]);
    });

    afterAll(async () => {
      await session?.close();
      await server?.close();
    });

    let engine: DraftReport;

    /** ORT's predictions against the engine drafter's (same contexts, same weights), ties allowed. */
    function expectLikeEngine(ort: DraftReport, tol: number): void {
      const ties = { count: 0 };
      ort.predictions.forEach((batch, i) =>
        batch.forEach((p, j) =>
          expectClosePrediction(
            typed(p),
            typed(engine.predictions[i]![j]!),
            true,
            `batch ${i}, context ${j}`,
            tol,
            ties,
          ),
        ),
      );
      expect(ties.count, "the fixture's margins leave no ties").toBe(0);
    }

    it("the ORT drafter (wasm) in a worker drafts PyTorch's greedy ids and what the engine drafter drafts", async () => {
      engine = await draft(request("engine", "wasm"));
      expect(engine.info).toMatchObject({
        kind: "engine",
        name: "engine",
        executionProvider: "cpu",
      });
      const ort = await draft(request("ort", "wasm"));
      expect(ort.info).toMatchObject({
        kind: "ort",
        name: "onnxruntime-web",
        executionProvider: "wasm",
      });
      // Main-line contexts: the top-1 is the next greedy id PyTorch recorded.
      const cases = loadOnnxExpected().cases;
      cases.forEach((c, k) => {
        for (let level = 0; level < 8; level++) {
          expect(ort.predictions[k * 8 + level]![0]!.topIds[0], `case ${k}, level ${level}`).toBe(
            c.greedy_8_torch[level],
          );
        }
      });
      expectLikeEngine(ort, 2e-5);
    });

    it("the ORT drafter on WebGPU agrees with the engine drafter (looser tolerance)", async ({
      skip,
    }) => {
      if (!hasGpu) {
        if (REQUIRE_WEBGPU) throw new Error("REQUIRE_WEBGPU=1 but Chromium has no WebGPU adapter");
        skip("no WebGPU adapter in Chromium");
      }
      const ort = await draft(request("ort", "webgpu"));
      expect(ort.info.executionProvider).toBe("webgpu");
      // onnxruntime's WebGPU kernels differ from the CPU's by ~1e-3 in probability here (llvmpipe).
      expectLikeEngine(ort, 5e-3);
    });

    it('"auto" times wasm and WebGPU on the model and keeps the faster', async ({ skip }) => {
      if (!hasGpu) {
        if (REQUIRE_WEBGPU) throw new Error("REQUIRE_WEBGPU=1 but Chromium has no WebGPU adapter");
        skip("no WebGPU adapter in Chromium");
      }
      const report = await draft({
        ...request("ort", "auto"),
        batches: [[[1, 2, 3]]],
        accepted: [],
      });
      const probe = report.info.probe;
      expect(probe?.wasmMsPerRun).toBeGreaterThan(0);
      expect(probe?.webgpuMsPerRun).toBeGreaterThan(0);
      const faster =
        (probe?.webgpuMsPerRun ?? Infinity) < (probe?.wasmMsPerRun ?? 0) ? "webgpu" : "wasm";
      expect(report.info.executionProvider).toBe(faster);
    });
  },
);
