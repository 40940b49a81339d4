// A browser tab and a Node edge peer (`pipemesh join ROOM_URL`) in one room form one pipeline: the room page
// lists both with their layers, and a chat tab's temperature-0 reply runs through both and equals
// `pipemesh generate --chat` on one device. Screenshot of the room page with the edge peer.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import { startApp, type AppServer } from "./support/app-server.ts";
import {
  openRoom,
  sendMessage,
  showView,
  startContributing,
  waitPhase,
  waitReply,
} from "./support/app-page.ts";
import { launchBrowser, screenshot, type TestBrowser } from "./support/browser.ts";
import { cliTokens } from "./support/cli.ts";
import { REPO, testModel, type TestModel } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

const PROMPT = "Where do birds go in winter?";
const MAX_TOKENS = 12;

describe.skipIf(!haveChromium)(
  `web app + pipemesh join (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
  () => {
    let model: TestModel;
    let app: AppServer;
    let browser: TestBrowser;
    let edge: ChildProcess | null = null;
    const edgeLog: string[] = [];

    beforeAll(async () => {
      model = testModel();
      app = await startApp(model.publicRoot);
      browser = await launchBrowser();
    });

    afterAll(async () => {
      if (edge !== null && edge.exitCode === null) {
        const exited = new Promise((resolve) => edge?.once("exit", resolve));
        edge.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (edge.exitCode === null) edge.kill("SIGKILL");
      }
      await browser?.close();
      await app?.close();
      model?.cleanup();
    });

    it("a tab and a Node edge peer form one pipeline that chats like one device", async () => {
      const cli = cliTokens(model, PROMPT, MAX_TOKENS);
      cli.catch(() => undefined);
      const host = await browser.newPeer("host");
      await host.page.goto(`${app.origin}/?loopback=1`);
      await host.page.click('[data-testid="create-room"]');
      const roomUrl = await (
        await host.page.waitForSelector('[data-testid="room-url"]', { timeout: 30_000 })
      ).inputValue();
      await host.close();

      edge = spawn(
        process.execPath,
        [
          join(REPO, "bin/pipemesh.mjs"),
          "join",
          roomUrl,
          "--backend",
          "cpu",
          "--name",
          "edge-node",
          "--matmul-gflops",
          "1",
        ],
        { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
      );
      edge.stderr?.on("data", (d: Buffer) => edgeLog.push(d.toString()));
      edge.stdout?.on("data", (d: Buffer) => edgeLog.push(d.toString()));

      const tab = await browser.newPeer("tab");
      await openRoom(tab.page, roomUrl, "room");
      await startContributing(tab.page);
      await waitPhase(tab.page, ["ready", "serving"]);
      await showView(tab.page, "room");
      // Both contributors hold layers and have loaded them.
      await tab.page
        .waitForFunction(
          () => {
            const rows = [
              ...document.querySelectorAll('[data-testid="peer-list"] tr[data-role="contributor"]'),
            ];
            return (
              rows.length === 2 &&
              rows.every((r) => r.getAttribute("data-status") === "ready") &&
              rows.some((r) => r.textContent?.includes("edge-node") === true)
            );
          },
          null,
          { timeout: 180_000, polling: 250 },
        )
        .catch((e: unknown) => {
          throw new Error(`${String(e)}\nedge peer log:\n${edgeLog.join("")}`);
        });

      const chat = await browser.newPeer("chat");
      await openRoom(chat.page, roomUrl, "chat", { drafter: "engine" });
      await sendMessage(chat.page, PROMPT, { temperature: 0, maxTokens: MAX_TOKENS });
      const reply = await waitReply(chat.page);
      expect(reply.state, `${reply.stats} ${reply.errors.join("; ")}`).toBe("done");
      const stages = await chat.page.$$eval("ol.stages li.stage", (els) =>
        els.map((e) => e.textContent ?? ""),
      );
      // The chat tab's embeddings, then the tab and the edge peer with their layers.
      expect(stages.length).toBe(3);
      expect(stages.filter((s) => /layers \d+–\d+/.test(s)).length).toBe(2);
      expect(stages.some((s) => s.includes("edge-node"))).toBe(true);
      const tokens = [
        ...reply.tokenIds,
        ...(reply.stopTokenId === undefined ? [] : [reply.stopTokenId]),
      ];
      expect(tokens).toEqual(await cli);
      await showView(chat.page, "room");
      await screenshot(chat.page, "room-with-edge-peer-desktop");
      for (const p of [tab, chat]) expect(p.errors).toEqual([]);
    });
  },
);
