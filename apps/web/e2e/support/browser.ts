// One headless Chromium (system executable, the engine's flag list plus WebRTC on loopback) with one
// isolated browser context per peer: camera and microphone granted (without them Chromium gathers no host
// candidates), console errors and page errors collected per peer, screenshots on demand. Test-only.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM_FLAGS, chromiumPath } from "../../../../packages/engine/test/support/chromium.ts";
import { REPO } from "./test-model.ts";

export const SCREENSHOT_DIR = join(REPO, "test-artifacts/screenshots");

export interface Peer {
  name: string;
  context: BrowserContext;
  page: Page;
  /** console.error messages and uncaught page errors. */
  errors: string[];
  close(): Promise<void>;
}

export interface TestBrowser {
  browser: Browser;
  newPeer(name: string, viewport?: { width: number; height: number }): Promise<Peer>;
  close(): Promise<void>;
}

/**
 * Files the engine probes for and may legitimately miss (a 404 is how it learns they are absent): a
 * separate chat template, and an ONNX draft model's external-data file.
 */
export function isOptionalFile(url: string): boolean {
  return /\/(chat_template\.jinja|model\.onnx_data|model\.onnx\.data)$/.test(
    new URL(url, "http://x").pathname,
  );
}

/** The flags that give Chromium a WebGPU adapter (left out to test a browser without one). */
const WEBGPU_FLAGS = new Set([
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=opengles",
  "--use-angle=gl-egl",
]);

export async function launchBrowser(options: { webgpu?: boolean } = {}): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error("no Chromium (set CHROMIUM_PATH)");
  const flags =
    options.webgpu === false ? CHROMIUM_FLAGS.filter((f) => !WEBGPU_FLAGS.has(f)) : CHROMIUM_FLAGS;
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [...flags, "--allow-loopback-in-peer-connection"],
  });
  const peers: Peer[] = [];
  return {
    browser,
    async newPeer(name, viewport = { width: 1200, height: 900 }) {
      const context = await browser.newContext({
        permissions: ["camera", "microphone"],
        viewport,
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() !== "error" || isOptionalFile(m.location().url)) return;
        errors.push(`${name} console.error: ${m.text()} (${m.location().url})`);
      });
      page.on("pageerror", (e) => errors.push(`${name} pageerror: ${e.message}`));
      page.on("response", (r) => {
        if (r.status() >= 400 && !(r.status() === 404 && isOptionalFile(r.url())))
          errors.push(`${name} HTTP ${r.status()} ${r.url()}`);
      });
      let closed = false;
      const peer: Peer = {
        name,
        context,
        page,
        errors,
        close: async () => {
          if (closed) return;
          closed = true;
          await context.close().catch(() => undefined);
        },
      };
      peers.push(peer);
      return peer;
    },
    async close() {
      for (const p of peers) await p.close();
      await browser.close().catch(() => undefined);
    },
  };
}

/** Writes test-artifacts/screenshots/<name>.png (full page). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
