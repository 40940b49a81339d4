// The mesh bundled by Vite (the repo's vite.config.ts) in headless Chromium: simple-peer over the browser's
// own RTCPeerConnection on loopback, chunked Links, and a room run through the real signaling server.
// Chromium comes from CHROMIUM_PATH or /usr/bin/chromium; without it the test skips with the reason (and
// fails under REQUIRE_WEBGPU=1, which CI sets and which needs Chromium anyway).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "vite";
import { describe, expect, it } from "vitest";
import { startSignalingServer } from "../../src/node/signaling-server.ts";
import { createStaticHandler } from "../../src/node/static-server.ts";

const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env["REQUIRE_WEBGPU"] === "1")
  throw new Error(`Chromium not found at ${chromiumPath}`);
const repo = fileURLToPath(new URL("../../../../", import.meta.url));

describe.skipIf(!haveChromium)(
  `the mesh in Chromium (${haveChromium ? chromiumPath : "no Chromium: skipped"})`,
  () => {
    it("connects, chunks and runs a room over the browser's WebRTC", async () => {
      const out = mkdtempSync(join(tmpdir(), "pipemesh-browser-"));
      const profile = mkdtempSync(join(tmpdir(), "pipemesh-chromium-"));
      await build({
        configFile: join(repo, "vite.config.ts"),
        root: fileURLToPath(new URL("../browser-page", import.meta.url)),
        publicDir: false,
        logLevel: "warn",
        build: { outDir: out, emptyOutDir: true },
      });
      const server = await startSignalingServer({
        port: 0,
        http: createStaticHandler({ roots: [out] }),
      });
      const ctx = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        permissions: ["camera", "microphone"], // without them Chromium gathers no host candidates
        args: ["--no-sandbox", "--no-first-run", "--allow-loopback-in-peer-connection"],
      });
      const errors: string[] = [];
      try {
        const page = await ctx.newPage();
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${server.httpUrl}/index.html`);
        await page.waitForFunction(
          () => (window as unknown as { result: unknown }).result !== null,
          null,
          { timeout: 60_000 },
        );
        const result = await page.evaluate(() => (window as unknown as { result: unknown }).result);
        expect(result).toEqual({
          ok: true,
          maxMessageBytes: 262144,
          bigMessageIntact: true,
          roomArgmax: 41,
        });
        expect(errors).toEqual([]);
      } finally {
        await ctx.close();
        await server.close();
        rmSync(out, { recursive: true, force: true });
        rmSync(profile, { recursive: true, force: true });
      }
    });
  },
);
