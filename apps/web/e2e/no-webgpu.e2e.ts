// A browser without WebGPU (Chromium without its WebGPU flags: requestAdapter() returns null): the
// contribute page says so plainly, selects the CPU backend, and contributing on it loads the layers. Also:
// a room whose model files are missing shows ERR_MODEL_LOAD where the layers would load.

import { roomUrl, SignalingClient } from "@pipemesh/mesh";
import { nodeWebSocketFactory } from "@pipemesh/mesh/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import { startApp, type AppServer } from "./support/app-server.ts";
import { openRoom, startContributing, waitPhase } from "./support/app-page.ts";
import { launchBrowser, screenshot, type TestBrowser } from "./support/browser.ts";
import { testModel, type TestModel } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

describe.skipIf(!haveChromium)(
  `web app without WebGPU (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
  () => {
    let model: TestModel;
    let app: AppServer;
    let browser: TestBrowser;

    beforeAll(async () => {
      model = testModel();
      app = await startApp(model.publicRoot);
      browser = await launchBrowser({ webgpu: false });
    });

    afterAll(async () => {
      await browser?.close();
      await app?.close();
      model?.cleanup();
    });

    it("says there is no WebGPU and contributes on the CPU backend", async () => {
      const host = await browser.newPeer("host");
      await host.page.goto(`${app.origin}/?loopback=1`);
      await host.page.click('[data-testid="create-room"]');
      const roomUrl = await (
        await host.page.waitForSelector('[data-testid="room-url"]', { timeout: 30_000 })
      ).inputValue();
      await host.close();

      const tab = await browser.newPeer("cpu-tab", { width: 375, height: 812 });
      await openRoom(tab.page, roomUrl, "contribute");
      await tab.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
      expect(await tab.page.isChecked("#backend-cpu")).toBe(true);
      expect(await tab.page.isDisabled("#backend-webgpu")).toBe(true);
      await startContributing(tab.page);
      expect(await waitPhase(tab.page, ["ready", "serving"])).toBe("ready");
      const status = await tab.page.textContent('[data-testid="contribute-status"]');
      expect(status).toMatch(/Loaded layers 0–\d+ \+ LM head/);
      await screenshot(tab.page, "contribute-no-webgpu-375");
      expect(tab.errors).toEqual([]);
    });

    it("a room whose model files are missing shows ERR_MODEL_LOAD on the contribute page", async () => {
      const admin = await SignalingClient.connect(app.origin.replace(/^http/, "ws") + "/signal", {
        webSocket: nodeWebSocketFactory,
      });
      const { roomId, secret } = await admin.createRoom({
        id: "no-such/model",
        layerCount: 2,
        layerBytes: 1000,
        embedBytes: 0,
        headBytes: 0,
      });
      admin.destroy();
      const tab = await browser.newPeer("missing-model");
      await openRoom(tab.page, roomUrl(app.origin, roomId, secret), "contribute");
      await startContributing(tab.page);
      await tab.page.waitForSelector('[data-testid="error"] [data-code="ERR_MODEL_LOAD"]', {
        timeout: 60_000,
      });
      const text = await tab.page.textContent('[data-testid="error"] [data-code="ERR_MODEL_LOAD"]');
      expect(text).toContain("no-such/model");
      await screenshot(tab.page, "contribute-model-load-error-desktop");
    });
  },
);
