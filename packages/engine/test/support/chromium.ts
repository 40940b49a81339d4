// Headless Chromium for parity and e2e tests, through playwright-core (never downloads a browser): the
// executable from CHROMIUM_PATH (default /usr/bin/chromium), the flags from docs environment.md in ONE
// array, a fresh user-data-dir per launch, and every console error / page error collected so the test can
// fail on them. Reusable by the web app's e2e tests. Test-only.

import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/**
 * Every flag the tests launch Chromium with. --enable-unsafe-webgpu gives the SwiftShader adapter (core);
 * the GLES/ANGLE pair adds Mesa llvmpipe as a compatibility adapter (~4x faster), which
 * requestAdapter({ featureLevel: "compatibility" }) returns.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=opengles",
  "--use-angle=gl-egl",
];

/** The Chromium executable to use, or null when there is none. */
export function chromiumPath(): string | null {
  const p = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
  return existsSync(p) ? p : null;
}

export interface ChromiumSession {
  context: BrowserContext;
  /** Console errors and uncaught page errors seen so far, from every page opened with newPage(). */
  errors: string[];
  newPage(): Promise<Page>;
  /** Idempotent: closes the browser and removes its profile. */
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Flags added to CHROMIUM_FLAGS (e.g. WebRTC loopback for e2e). */
  extraArgs?: readonly string[];
  /** Browser permissions to grant (e.g. ["camera", "microphone"] for WebRTC host candidates). */
  permissions?: string[];
  /** Console messages of these types are collected as errors (default ["error"]). */
  errorTypes?: readonly string[];
}

export async function launchChromium(options: LaunchOptions = {}): Promise<ChromiumSession> {
  const executablePath = chromiumPath();
  if (executablePath === null) {
    throw new Error("no Chromium: install Debian's chromium or set CHROMIUM_PATH");
  }
  const profile = await mkdtemp(join(tmpdir(), "pipemesh-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(options.extraArgs ?? [])],
    permissions: options.permissions ?? [],
  });
  const errors: string[] = [];
  const errorTypes = new Set(options.errorTypes ?? ["error"]);
  const watch = (page: Page): Page => {
    page.on("console", (m) => {
      if (errorTypes.has(m.type())) errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    return page;
  };
  for (const p of context.pages()) watch(p);
  let closed = false;
  return {
    context,
    errors,
    async newPage() {
      return watch(await context.newPage());
    },
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
