// The browser weight cache through the web app: a tab contributes (CPU backend), the contribute page
// shows a non-zero cache size; after stopping, contributing again loads the layers with no weight bytes
// from the server (the shard worker reads them from OPFS, only HEADs reach the server); "Clear cache"
// empties it.

import { createStaticHandler, startSignalingServer } from "@pipemesh/mesh/node";
import type { ServerResponse } from "node:http";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import { buildApp } from "./support/app-server.ts";
import { openRoom, startContributing, waitPhase } from "./support/app-page.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { testModel, type TestModel } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

/** The contribute status line's data-source ("cache", "network", "mixed"). */
async function sourceOf(page: Page): Promise<string | undefined> {
  return (await page.getAttribute('[data-testid="contribute-status"]', "data-source")) ?? undefined;
}

/** Counts body bytes written for weight files and HEAD requests for them. */
function counting(res: ServerResponse, onBytes: (n: number) => void): void {
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  const size = (c: unknown): number =>
    typeof c === "string" ? Buffer.byteLength(c) : c instanceof Uint8Array ? c.byteLength : 0;
  (res as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
    onBytes(size(a[0]));
    return write(...a);
  };
  (res as unknown as { end: (...a: unknown[]) => ServerResponse }).end = (...a: unknown[]) => {
    if (typeof a[0] !== "function") onBytes(size(a[0]));
    return end(...a);
  };
}

describe.skipIf(!haveChromium)(
  `web app weight cache (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
  () => {
    let model: TestModel;
    let server: Awaited<ReturnType<typeof startSignalingServer>>;
    let browser: TestBrowser;
    let weightBytes = 0;
    let weightHeads = 0;

    beforeAll(async () => {
      model = testModel();
      const dist = await buildApp();
      const files = createStaticHandler({
        roots: [dist, model.publicRoot],
        spaFallback: "/index.html",
      });
      server = await startSignalingServer({
        host: "127.0.0.1",
        port: 0,
        http: (req, res) => {
          if (/\.(safetensors|gguf)$/.test(new URL(req.url ?? "/", "http://x").pathname)) {
            if (req.method === "HEAD") weightHeads += 1;
            else counting(res, (n) => (weightBytes += n));
          }
          files(req, res);
        },
      });
      browser = await launchBrowser({ webgpu: false });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      model?.cleanup();
    });

    it("shows the cache size, loads again from the cache with no weight bytes, and clears it", async () => {
      const host = await browser.newPeer("host");
      await host.page.goto(`${server.httpUrl}/?loopback=1`);
      await host.page.click('[data-testid="create-room"]');
      const url = await (
        await host.page.waitForSelector('[data-testid="room-url"]', { timeout: 30_000 })
      ).inputValue();
      await host.close();

      const tab = await browser.newPeer("cache-tab");
      await openRoom(tab.page, url, "contribute");
      await tab.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
      await startContributing(tab.page);
      expect(await waitPhase(tab.page, ["ready", "serving"])).toBe("ready");
      const fetched = weightBytes;
      expect(fetched).toBeGreaterThan(0);
      expect(await sourceOf(tab.page)).toBe("network");
      await tab.page.waitForFunction(
        () =>
          !/^(…|0 B)$/.test(
            document.querySelector('[data-testid="cache-size"]')?.textContent ?? "",
          ),
        null,
        { timeout: 10_000 },
      );

      // Reload the page and contribute again: a new shard worker loads the same layers from OPFS, and
      // the page says so.
      await tab.page.click('[data-testid="contribute"]');
      await tab.page.waitForFunction(
        () =>
          document.querySelector('[data-testid="contribute"]')?.textContent ===
          "Start contributing",
      );
      weightBytes = 0;
      weightHeads = 0;
      await tab.page.reload();
      await openRoom(tab.page, url, "contribute");
      await tab.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
      await startContributing(tab.page);
      expect(await waitPhase(tab.page, ["ready", "serving"])).toBe("ready");
      expect(weightBytes).toBe(0);
      expect(weightHeads).toBeGreaterThan(0);
      expect(await sourceOf(tab.page)).toBe("cache");
      expect(await tab.page.textContent('[data-testid="contribute-status"]')).toMatch(
        /from this browser's cache .*nothing downloaded/,
      );

      await tab.page.click('[data-testid="contribute"]');
      await tab.page.click('[data-testid="cache-clear"]');
      await tab.page.waitForFunction(
        () => document.querySelector('[data-testid="cache-size"]')?.textContent === "0 B",
        null,
        { timeout: 10_000 },
      );
      expect(tab.errors).toEqual([]);
    });
  },
);
