// The browser weight cache in headless Chromium against a local Range server (another origin, so CORS
// applies as for a CDN): in a dedicated worker (where the shard worker reads weights) the OPFS store is
// picked, and a second load of the same range, also after a page reload, fetches no weight bytes (one HEAD);
// a byte flipped in a stored OPFS piece is refetched; the Cache API fallback behaves the same in the page.
// The server's answers are cacheable, so the browser's own HTTP cache must not stand in for either.

import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { chromiumPath, launchChromium, type ChromiumSession } from "../support/chromium.ts";
import { startHarnessServer, type HarnessServer } from "../support/harness-server.ts";
import { startRangeServer, type RangeServer } from "../support/range-server.ts";
import type { CacheCall, ReadReport } from "../support/cache-harness/cache-calls.ts";

const browser = chromiumPath();
const HARNESS = new URL("../support/cache-harness/", import.meta.url).pathname;

declare const cacheHarness: {
  page(call: CacheCall): Promise<unknown>;
  worker(call: CacheCall): Promise<unknown>;
};

function fileBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 2654435761) >>> 24;
  return out;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe.skipIf(browser === null)(
  "weight cache in Chromium (no Chromium: set CHROMIUM_PATH)",
  () => {
    let harness: HarnessServer;
    let weights: RangeServer;
    let session: ChromiumSession;
    let page: Page;
    const file = fileBytes(256 * 1024);
    let url = "";

    const call = (where: "page" | "worker", c: CacheCall): Promise<unknown> =>
      page.evaluate(([w, x]) => cacheHarness[w](x), [where, c] as const);
    const read = async (
      where: "page" | "worker",
      kind: "opfs" | "cache-api" | "auto",
      off: number,
      len: number,
    ) => (await call(where, { name: "read", args: [kind, url, off, len] })) as ReadReport;

    async function open(): Promise<void> {
      await page.goto(harness.url);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    }

    beforeAll(async () => {
      harness = await startHarnessServer(HARNESS);
      // Cacheable answers: the weight cache must still revalidate with the server and keep bytes once.
      weights = await startRangeServer({ cacheControl: "max-age=3600" });
      url = weights.setFile("/models/m/model.safetensors", file);
      session = await launchChromium();
      page = await session.newPage();
      await open();
    });

    afterEach(() => {
      expect(session.errors.splice(0)).toEqual([]);
    });

    afterAll(async () => {
      await session?.close();
      await weights?.close();
      await harness?.close();
    });

    it("in a worker: OPFS is used and a second load, also after a reload, fetches no weight bytes", async () => {
      weights.reset();
      const first = await read("worker", "auto", 1000, 100_000);
      expect(first.backend).toBe("opfs");
      expect(first.sha256).toBe(sha(file.subarray(1000, 101_000)));
      expect(weights.bodyBytes()).toBe(100_000);
      expect(first.usage).toBe(100_000);

      weights.reset();
      const second = await read("worker", "auto", 1000, 100_000);
      expect(second.sha256).toBe(first.sha256);
      expect(weights.bodyBytes()).toBe(0);
      expect(weights.heads()).toBe(1);
      expect(second.stats.hitBytes).toBe(100_000);

      await open(); // a new page and worker: only the origin's storage remains
      weights.reset();
      const third = await read("worker", "auto", 1000, 100_000);
      expect(third.sha256).toBe(first.sha256);
      expect(weights.bodyBytes()).toBe(0);
    });

    it("a flipped byte in a stored OPFS piece is detected and only that piece is refetched", async () => {
      const name = (await call("page", { name: "corruptOpfsPiece", args: [] })) as string;
      const [offset, length] = name
        .replace(/\.bin$/, "")
        .split("-")
        .map(Number) as [number, number];
      weights.reset();
      const r = await read("worker", "auto", 1000, 100_000);
      expect(r.sha256).toBe(sha(file.subarray(1000, 101_000)));
      expect(r.stats.corruptPieces).toBe(1);
      expect(weights.bodyBytes()).toBe(length);
      expect(offset).toBeGreaterThanOrEqual(1000);
      await call("page", { name: "clear", args: ["opfs"] });
    });

    it("the Cache API fallback also serves a second load with no weight bytes", async () => {
      weights.reset();
      const first = await read("page", "cache-api", 5000, 40_000);
      expect(first.backend).toBe("cache-api");
      expect(first.sha256).toBe(sha(file.subarray(5000, 45_000)));
      expect(weights.bodyBytes()).toBe(40_000);
      weights.reset();
      const second = await read("page", "cache-api", 0, 50_000);
      expect(second.sha256).toBe(sha(file.subarray(0, 50_000)));
      expect(weights.bodyBytes()).toBe(10_000); // only the two gaps
      await call("page", { name: "clear", args: ["cache-api"] });
    });
  },
);
