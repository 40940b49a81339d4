// Parity in headless Chromium: the kernel cases of kernels.parity.test.ts on SwiftShader (core adapter)
// and Mesa llvmpipe (GLES compatibility adapter), in the page and in a dedicated worker (plus the
// randomized-shape sweep), and fixture models' prompt logits and greedy tokens against their float64
// goldens (the primary fixture and one with no dimension a multiple of 4). One browser and one Vite server
// for the file; any console error or page error fails the test that produced it.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { loadGolden, modelFixtureDir, PRIMARY_FIXTURE } from "../fixtures/fixtures.ts";
import { fixtureConfig } from "../suites/backends.ts";
import { chromiumPath, launchChromium, type ChromiumSession } from "../support/chromium.ts";
import { startHarnessServer, type HarnessServer } from "../support/harness-server.ts";
import type {
  BrowserAdapter,
  HarnessApi,
  HarnessCall,
  KernelReport,
  ModelReport,
} from "../support/harness/harness-api.ts";
import { REQUIRE_WEBGPU } from "../support/node-gpu.ts";

const browser = chromiumPath();
if (browser === null && REQUIRE_WEBGPU) {
  throw new Error(
    "REQUIRE_WEBGPU=1 but there is no Chromium (set CHROMIUM_PATH or install chromium)",
  );
}

type Harness = HarnessApi & { inWorker(call: HarnessCall): Promise<unknown> };
declare const harness: Harness;

describe.skipIf(browser === null)("Chromium parity (no Chromium: set CHROMIUM_PATH)", () => {
  let server: HarnessServer;
  let session: ChromiumSession;
  let page: Page;
  let adapters: Record<Exclude<BrowserAdapter, "auto">, boolean>;

  beforeAll(async () => {
    server = await startHarnessServer();
    session = await launchChromium();
    page = await session.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    adapters = await page.evaluate(async () => ({
      core: (await navigator.gpu.requestAdapter()) !== null,
      compat: (await navigator.gpu.requestAdapter({ featureLevel: "compatibility" })) !== null,
    }));
  });

  afterEach(() => {
    const errors = session.errors.splice(0);
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await session?.close();
    await server?.close();
  });

  function needAdapter(kind: Exclude<BrowserAdapter, "auto">, skip: (note: string) => void): void {
    if (adapters[kind]) return;
    if (REQUIRE_WEBGPU)
      throw new Error(`REQUIRE_WEBGPU=1 but Chromium has no ${kind} WebGPU adapter`);
    skip(`no ${kind} WebGPU adapter in Chromium`);
  }

  function expectKernels(report: KernelReport): void {
    const failed = report.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
    expect(failed, report.adapter).toEqual([]);
    expect(report.results.length).toBeGreaterThan(30);
  }

  // The randomized-shape sweep runs once here (llvmpipe, the fast adapter); Node runs it on both.
  for (const kind of ["core", "compat"] as const) {
    it(`kernels match the reference in the page (${kind} adapter)`, async ({ skip }) => {
      needAdapter(kind, skip);
      const sweep = kind === "compat";
      const report = await page.evaluate((r) => harness.kernelCases(r), { kind, sweep });
      expect(report.adapter).toContain(kind === "core" ? ", core" : ", compat");
      expectKernels(report);
      if (sweep) expect(report.results.filter((r) => r.name.startsWith("sweep")).length).toBe(36);
    });
  }

  it("kernels match the reference in a dedicated worker (compat adapter)", async ({ skip }) => {
    needAdapter("compat", skip);
    const report = await page.evaluate(
      (r) => harness.inWorker({ fn: "kernelCases", arg: r }) as Promise<KernelReport>,
      { kind: "compat" as const, sweep: false },
    );
    expectKernels(report);
  });

  it.for([PRIMARY_FIXTURE, "llama-awkward-f16"] as const)(
    "%s gives the golden's logits and greedy tokens, in the page and in a worker",
    async (fixture, { skip }) => {
      needAdapter("compat", skip);
      const { golden, logits: goldenLogits } = loadGolden(fixture);
      const config = await fixtureConfig(fixture);
      const req = {
        kind: "auto" as const,
        model: server.fsPath(modelFixtureDir(fixture)),
        numLayers: config.numLayers,
        prompt: golden.prompt,
        steps: golden.greedy.length,
      };
      const inPage = await page.evaluate((r) => harness.modelGreedy(r), req);
      const inWorker = await page.evaluate(
        (r) => harness.inWorker({ fn: "modelGreedy", arg: r }) as Promise<ModelReport>,
        req,
      );
      for (const report of [inPage, inWorker]) {
        expect(report.adapter).toMatch(/compat/);
        expect(report.greedy).toEqual(golden.greedy);
        let maxDiff = 0;
        let scale = 0;
        for (const [i, v] of goldenLogits.entries()) {
          maxDiff = Math.max(maxDiff, Math.abs((report.logits[i] ?? NaN) - v));
          scale = Math.max(scale, Math.abs(v));
        }
        expect(maxDiff / scale).toBeLessThan(1e-4);
      }
      // Same adapter kind, same kernels: the page and the worker agree bit for bit.
      expect(Float32Array.from(inWorker.logits)).toEqual(Float32Array.from(inPage.logits));
    },
  );
});
