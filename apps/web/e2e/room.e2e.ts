// The web app end to end in headless Chromium, served as `pipemesh serve` serves it: one tab creates a
// room, two tabs contribute (WebGPU), a third chats at temperature 0 and its reply's tokens equal
// `pipemesh generate --chat` for the same prompt and model; a follow-up reuses the conversation's KV; a
// contributor closed mid-reply (with a spare contributor in the room) is planned out and the reply
// completes with the CLI's tokens. Screenshots of every page (desktop and 375 px) go to test-artifacts/.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import { startApp, type AppServer } from "./support/app-server.ts";
import {
  errorCodes,
  openRoom,
  viewUrl,
  sendMessage,
  showView,
  startContributing,
  waitPhase,
  waitReply,
} from "./support/app-page.ts";
import { launchBrowser, screenshot, type Peer, type TestBrowser } from "./support/browser.ts";
import { cliTokens } from "./support/cli.ts";
import { testModel, type TestModel } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

const PROMPT = "Tell me a story about a cat.";
const MAX_TOKENS = 16;
const RECOVERY_PROMPT = "Tell me a story about a dog.";
const RECOVERY_TOKENS = 40;
const MOBILE = { width: 375, height: 812 };

describe.skipIf(!haveChromium)(
  `web app: create, contribute, chat (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
  () => {
    let model: TestModel;
    let app: AppServer;
    let browser: TestBrowser;
    let roomUrl = "";
    let contributors: Peer[] = [];
    let chatter: Peer;
    let cli: Promise<number[]>;
    let recoveryReference: Promise<number[]>;

    beforeAll(async () => {
      model = testModel();
      cli = cliTokens(model, PROMPT, MAX_TOKENS);
      cli.catch(() => undefined);
      recoveryReference = cliTokens(model, RECOVERY_PROMPT, RECOVERY_TOKENS);
      recoveryReference.catch(() => undefined);
      app = await startApp(model.publicRoot);
      browser = await launchBrowser();
    });

    afterAll(async () => {
      await browser?.close();
      await app?.close();
      model?.cleanup();
    });

    it("creates a room on the landing page and shows its shareable URL", async () => {
      const host = await browser.newPeer("landing");
      await host.page.goto(`${app.origin}/?loopback=1`);
      await screenshot(host.page, "landing-desktop");
      await host.page.click('[data-testid="create-room"]');
      const input = await host.page.waitForSelector('[data-testid="room-url"]', {
        timeout: 30_000,
      });
      roomUrl = await input.inputValue();
      expect(roomUrl).toMatch(
        /^http:\/\/127\.0\.0\.1:\d+\/room\/[A-Za-z0-9_.:-]+#[A-Za-z0-9_.:-]+$/,
      );
      await screenshot(host.page, "landing-created-desktop");
      await host.page.setViewportSize(MOBILE);
      await screenshot(host.page, "landing-created-375");
      expect(host.errors).toEqual([]);
      await host.close();
    });

    it("two tabs contribute; the room lists them with their layers", async () => {
      contributors = [await browser.newPeer("contrib-a"), await browser.newPeer("contrib-b")];
      for (const c of contributors) {
        await openRoom(c.page, roomUrl, "room");
        await startContributing(c.page);
      }
      for (const c of contributors) await waitPhase(c.page, ["ready", "serving"]);
      // Under REQUIRE_WEBGPU=1 the contributors must have found an adapter (else they fall back to the CPU).
      const adapters = await Promise.all(
        contributors.map((c) => c.page.$('[data-testid="adapter"]')),
      );
      if (REQUIRE) expect(adapters.every((a) => a !== null)).toBe(true);
      const a = contributors[0]!.page;
      await showView(a, "room");
      await a.waitForFunction(
        () =>
          document.querySelectorAll(
            '[data-testid="peer-list"] tr[data-role="contributor"][data-status="ready"]',
          ).length === 2,
        null,
        { timeout: 30_000 },
      );
      const layers = await a.$$eval(
        '[data-testid="peer-list"] tr[data-role="contributor"] [data-testid="peer-layers"]',
        (els) => els.map((e) => e.textContent ?? ""),
      );
      expect(layers.length).toBe(2);
      expect(layers.every((l) => /\d+–\d+/.test(l))).toBe(true);
      await screenshot(a, "room-desktop");
      await showView(a, "contribute");
      await screenshot(a, "contribute-desktop");
    });

    it("a third tab chats at temperature 0 and gets the CLI's tokens", async () => {
      chatter = await browser.newPeer("chat");
      await openRoom(chatter.page, roomUrl, "chat");
      await sendMessage(chatter.page, PROMPT, {
        mode: "pipeinfer",
        temperature: 0,
        maxTokens: MAX_TOKENS,
      });
      const reply = await waitReply(chatter.page);
      console.log(`web reply: ${reply.stats}`);
      expect(reply.state, `${reply.stats} ${reply.errors.join("; ")}`).toBe("done");
      const want = await cli;
      const page = [
        ...reply.tokenIds,
        ...(reply.stopTokenId === undefined ? [] : [reply.stopTokenId]),
      ];
      expect(page).toEqual(want);
      expect(reply.stats).toMatch(/tokens\/s/);
      expect(reply.stats).toMatch(/cancelled runs/);
      // The chat drafts with the ONNX draft on onnxruntime-web (its own worker), not a fallback.
      const status = await chatter.page.$(".chat-status[data-drafter]");
      expect(await status?.getAttribute("data-drafter")).toBe("onnxruntime-web");
      expect(await status?.getAttribute("data-drafter-fallback")).toBeNull();
      const runs = await chatter.page.getAttribute('[data-testid="pipeline-view"]', "data-runs");
      expect(Number(runs)).toBeGreaterThan(0);
      await screenshot(chatter.page, "chat-desktop");
      await chatter.page.setViewportSize(MOBILE);
      await screenshot(chatter.page, "chat-375");
      await showView(chatter.page, "room");
      await screenshot(chatter.page, "room-375");
      await showView(chatter.page, "contribute");
      await chatter.page.waitForSelector('[data-testid="contribute"]:not([disabled])');
      await screenshot(chatter.page, "contribute-375");
      await showView(chatter.page, "chat");
      await chatter.page.setViewportSize({ width: 1200, height: 900 });
    });

    it("a follow-up continues the conversation without recomputing it", async () => {
      await sendMessage(chatter.page, "And then?", { maxTokens: 8, keyboard: true });
      const reply = await waitReply(chatter.page);
      expect(reply.state, `${reply.stats} ${reply.errors.join("; ")}`).toBe("done");
      expect(reply.stats).toMatch(/(\d+) context tokens reused/);
      const reused = Number(/(\d+) context tokens reused/.exec(reply.stats)?.[1]);
      expect(reused).toBeGreaterThan(10);
    });

    it("a second chat tab waits in the queue (ERR_ROOM_BUSY #1) until the first one stops", async () => {
      const second = await browser.newPeer("chat-2");
      await openRoom(second.page, roomUrl, "chat", { drafter: "engine" });
      await sendMessage(chatter.page, "Tell me a long story.", { maxTokens: 200 });
      await chatter.page.waitForFunction(
        () =>
          (document.querySelector('[data-testid="output"]')?.getAttribute("data-token-ids") ??
            "") !== "",
        null,
        { timeout: 120_000, polling: 100 },
      );
      await sendMessage(second.page, "Hi!", { temperature: 0, maxTokens: 4 });
      await second.page.waitForSelector('[data-testid="error"] [data-code="ERR_ROOM_BUSY"]', {
        timeout: 120_000,
      });
      const busy = await second.page.textContent(
        '[data-testid="error"] [data-code="ERR_ROOM_BUSY"]',
      );
      expect(busy).toContain("#1 in the queue");
      await screenshot(second.page, "chat-room-busy-desktop");
      await chatter.page.click('[data-testid="stop"]');
      const stopped = await waitReply(chatter.page, 30_000);
      expect(stopped.state).toBe("stopped");
      const reply = await waitReply(second.page);
      expect(reply.state, `${reply.stats} ${reply.errors.join("; ")}`).toBe("done");
      expect(await errorCodes(second.page)).not.toContain("ERR_ROOM_BUSY");
      expect(second.errors).toEqual([]);
      await second.close();
    });

    it("a conversation past the context length is ERR_CONTEXT_LENGTH with a way to start over", async () => {
      await sendMessage(chatter.page, "tell me more ".repeat(120), { maxTokens: 8 });
      const full = await waitReply(chatter.page);
      expect(full.state).toBe("error");
      await chatter.page.waitForSelector('[data-testid="error"] [data-code="ERR_CONTEXT_LENGTH"]');
      await screenshot(chatter.page, "chat-context-length-desktop");
      await chatter.page.click(
        '[data-testid="error"] [data-code="ERR_CONTEXT_LENGTH"] .error-action',
      );
      await chatter.page.waitForFunction(
        () =>
          document.querySelector('[data-testid="output"]')?.getAttribute("data-state") ===
            "empty" &&
          document.querySelector('[data-testid="error"] [data-code="ERR_CONTEXT_LENGTH"]') === null,
      );
      await sendMessage(chatter.page, "Hello!", { maxTokens: 4 });
      const fresh = await waitReply(chatter.page);
      expect(fresh.state, `${fresh.stats} ${fresh.errors.join("; ")}`).toBe("done");
    });

    it("a room link with a wrong secret shows ERR_ROOM_SECRET", async () => {
      const stranger = await browser.newPeer("stranger", MOBILE);
      await stranger.page.goto(viewUrl(roomUrl.replace(/#.*$/, "#wrong-secret"), "room"));
      await stranger.page.waitForSelector('[data-testid="error"] [data-code="ERR_ROOM_SECRET"]', {
        timeout: 30_000,
      });
      await screenshot(stranger.page, "room-wrong-secret-375");
      await stranger.close();
    });

    it("a contributor closed mid-reply, with a spare contributor in the room: the reply completes with the same tokens", async () => {
      const spare = await browser.newPeer("contrib-c");
      await openRoom(spare.page, roomUrl, "room");
      await startContributing(spare.page);
      await waitPhase(spare.page, ["ready", "serving", "idle"]);
      // A fresh conversation in a new tab, so the reference is the CLI's reply to the same prompt.
      const teller = await browser.newPeer("chat-3");
      await openRoom(teller.page, roomUrl, "chat");
      await sendMessage(teller.page, RECOVERY_PROMPT, {
        mode: "pipeinfer",
        temperature: 0,
        maxTokens: RECOVERY_TOKENS,
      });
      await teller.page.waitForFunction(
        () =>
          (document.querySelector('[data-testid="output"]')?.getAttribute("data-token-ids") ?? "")
            .split(",")
            .filter((x) => x !== "").length >= 3,
        null,
        { timeout: 180_000, polling: 50 },
      );
      await contributors[1]!.close(); // pagehide: it leaves the room at once
      const reply = await waitReply(teller.page);
      expect(reply.state, `${reply.stats} ${reply.errors.join("; ")}`).toBe("done");
      const page = [
        ...reply.tokenIds,
        ...(reply.stopTokenId === undefined ? [] : [reply.stopTokenId]),
      ];
      expect(page).toEqual(await recoveryReference);
      expect(reply.stats).toMatch(/recovered from 1 lost contributor/);
      expect(await errorCodes(teller.page)).toEqual([]);
      await screenshot(teller.page, "chat-recovered-desktop");
      for (const p of [teller, contributors[0]!, spare]) expect(p.errors).toEqual([]);
    });
  },
);
