// Packed-weight matmul parity in headless Chromium: the cases of packed-matmul.parity.test.ts
// (test/support/packed-kernel-cases.ts) on Mesa llvmpipe (GLES compatibility adapter) in the page and in
// a dedicated module worker, and on SwiftShader (core adapter) in the page. The page is the shared parity
// harness; the cases' module is imported into it by URL (Vite serves any repository file under /@fs/).
// Any console error or page error fails the test.

import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { chromiumPath, launchChromium, type ChromiumSession } from "../support/chromium.ts";
import { startHarnessServer, type HarnessServer } from "../support/harness-server.ts";
import type { PackedKernelReport } from "../support/packed-kernel-browser.ts";
import { REQUIRE_WEBGPU } from "../support/node-gpu.ts";

const browser = chromiumPath();
if (browser === null && REQUIRE_WEBGPU) {
  throw new Error(
    "REQUIRE_WEBGPU=1 but there is no Chromium (set CHROMIUM_PATH or install chromium)",
  );
}

const ENTRY = fileURLToPath(new URL("../support/packed-kernel-browser.ts", import.meta.url));

type Entry = {
  packedKernelReport: (
    kind: "core" | "compat",
    randomRounds?: number,
  ) => Promise<PackedKernelReport>;
};
/** The entry module's exports, put on the page's globalThis by a module script (see beforeAll). */
declare const packedHarness: Entry;

interface Req {
  url: string;
  kind: "core" | "compat";
  worker: boolean;
}

describe.skipIf(browser === null)(
  "Chromium packed matmul parity (no Chromium: set CHROMIUM_PATH)",
  () => {
    let server: HarnessServer;
    let session: ChromiumSession;
    let page: Page;
    let adapters: Record<"core" | "compat", boolean>;

    beforeAll(async () => {
      server = await startHarnessServer();
      session = await launchChromium();
      page = await session.newPage();
      await page.goto(server.url);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
      await page.addScriptTag({
        type: "module",
        content: `import * as m from "${entryUrl()}"; globalThis.packedHarness = m;`,
      });
      await page.waitForFunction(() => "packedHarness" in globalThis);
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

    function entryUrl(): string {
      return new URL(server.fsPath(ENTRY), server.url).href;
    }

    /** Runs packedKernelReport in the page, or in a module worker the page starts for the call. */
    function report(kind: "core" | "compat", worker: boolean): Promise<PackedKernelReport> {
      return page.evaluate(
        async (r: Req) => {
          // SwiftShader (core) compiles every pipeline slowly: the fixed cases, invariance and splits
          // there; llvmpipe (compat) also runs the random shapes.
          if (!r.worker) return packedHarness.packedKernelReport(r.kind, r.kind === "core" ? 0 : 3);
          const code =
            `self.onmessage = async (ev) => { try { const m = await import(ev.data.url); ` +
            `self.postMessage({ ok: true, value: await m.packedKernelReport(ev.data.kind) }); } ` +
            `catch (e) { self.postMessage({ ok: false, error: String(e && e.stack || e) }); } };`;
          const w = new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), {
            type: "module",
          });
          try {
            return await new Promise<PackedKernelReport>((resolve, reject) => {
              w.onmessage = (
                ev: MessageEvent<{ ok: boolean; value?: PackedKernelReport; error?: string }>,
              ) => (ev.data.ok ? resolve(ev.data.value!) : reject(new Error(ev.data.error)));
              w.onerror = (ev) => reject(new Error(`worker error: ${ev.message}`));
              w.postMessage({ url: r.url, kind: r.kind });
            });
          } finally {
            w.terminate();
          }
        },
        { url: entryUrl(), kind, worker },
      );
    }

    for (const [kind, worker] of [
      ["compat", false],
      ["compat", true],
      ["core", false],
    ] as const) {
      it(`every type matches the reference and is batch-invariant (${kind} adapter, ${worker ? "worker" : "page"})`, async ({
        skip,
      }) => {
        if (!adapters[kind]) {
          if (REQUIRE_WEBGPU)
            throw new Error(`REQUIRE_WEBGPU=1 but Chromium has no ${kind} WebGPU adapter`);
          skip(`no ${kind} WebGPU adapter in Chromium`);
        }
        const r = await report(kind, worker);
        expect(r.adapter).toContain(kind === "core" ? ", core" : ", compat");
        const failed = r.results.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
        expect(failed, r.adapter).toEqual([]);
        // Every type's fixed cases, invariance and splits (and, on llvmpipe, random shapes) ran.
        expect(r.results.length).toBeGreaterThan(kind === "core" ? 50 : 80);
      }, 600_000);
    }
  },
);
