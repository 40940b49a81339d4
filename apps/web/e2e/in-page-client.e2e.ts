// The in-page client through the built app: one tab contributes (CPU backend, no WebGPU), a second tab
// runs @pipemesh/head/browser's connect(roomUrl) in the page (the app exposes it with `?client=1`) and asks
// chat.completions.create at temperature 0, non-streaming and streaming: the reply is
// `pipemesh generate --chat`'s text for the same prompt and model, and the streamed deltas concatenate to it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import type { ChatCompletion, ChatCompletionChunk } from "@pipemesh/head";
import type { RoomConnection } from "@pipemesh/head/browser";
import { startApp, type AppServer } from "./support/app-server.ts";
import { openRoom, startContributing, waitPhase } from "./support/app-page.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { cliResult } from "./support/cli.ts";
import { testModel, type TestModel } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

const PROMPT = "Tell me a story about a cat.";
const MAX_TOKENS = 16;

type PageConnect = (url: string, o: { drafterKind: "engine" }) => Promise<RoomConnection>;

describe.skipIf(!haveChromium)(
  `in-page client (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
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

    it("connect(roomUrl) answers chat.completions.create with the CLI's text, whole and streamed", async () => {
      const cli = cliResult(model, PROMPT, MAX_TOKENS);
      cli.catch(() => undefined);

      const host = await browser.newPeer("host");
      await host.page.goto(`${app.origin}/?loopback=1`);
      await host.page.click('[data-testid="create-room"]');
      const roomUrl = await (
        await host.page.waitForSelector('[data-testid="room-url"]', { timeout: 30_000 })
      ).inputValue();
      await host.close();

      const contributor = await browser.newPeer("contributor");
      await openRoom(contributor.page, roomUrl, "contribute");
      await contributor.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
      await startContributing(contributor.page);
      expect(await waitPhase(contributor.page, ["ready", "serving"])).toBe("ready");

      const client = await browser.newPeer("client");
      await client.page.goto(`${app.origin}/?loopback=1&client=1`);
      await client.page.waitForFunction(() => "pipemesh" in globalThis, null, { timeout: 30_000 });
      const got = await client.page.evaluate(
        async ({ url, prompt, maxTokens }) => {
          const g = globalThis as unknown as { pipemesh: { connect: PageConnect } };
          const room = await g.pipemesh.connect(url, { drafterKind: "engine" });
          try {
            const messages = [{ role: "user" as const, content: prompt }];
            const whole: ChatCompletion = await room.chat.completions.create({
              messages,
              temperature: 0,
              max_tokens: maxTokens,
            });
            const stream: AsyncIterable<ChatCompletionChunk> = await room.chat.completions.create({
              messages,
              temperature: 0,
              max_tokens: maxTokens,
              stream: true,
            });
            const deltas: string[] = [];
            for await (const chunk of stream) {
              const d = chunk.choices[0]?.delta.content;
              if (typeof d === "string") deltas.push(d);
            }
            return {
              text: whole.choices[0]?.message.content ?? null,
              completionTokens: whole.usage.completion_tokens,
              deltas,
            };
          } finally {
            await room.close();
          }
        },
        { url: roomUrl, prompt: PROMPT, maxTokens: MAX_TOKENS },
      );

      const reference = await cli;
      expect(got.text).toBe(reference.text);
      expect(got.deltas.length).toBeGreaterThan(1);
      expect(got.deltas.join("")).toBe(reference.text);
      expect(got.completionTokens).toBeGreaterThan(0);
      expect(client.errors).toEqual([]);
      expect(contributor.errors).toEqual([]);
    }, 600_000);
  },
);
