// Driving the web app's pages through their data-testid hooks: open a room page (with the automation
// query), start contributing and wait for a phase, send a chat message and wait for the reply's tokens.
// Assertions stay in the tests; these helpers only act and read. Test-only.

import type { Page } from "playwright-core";

export type RoomView = "room" | "contribute" | "chat";

/** The room URL for a view, with the automation query (loopback ICE only, a fixed speed). */
export function viewUrl(roomUrl: string, view: RoomView, query = "loopback=1&gflops=1"): string {
  const u = new URL(roomUrl);
  if (view !== "room") u.pathname = `${u.pathname.replace(/\/$/, "")}/${view}`;
  u.search = query;
  return u.href;
}

/**
 * Opens a room page and waits until the tab has joined. `drafter: "engine"` makes a chat tab draft with
 * the engine drafter (quick to load) instead of onnxruntime-web, for tabs whose drafter is not under test.
 */
export async function openRoom(
  page: Page,
  roomUrl: string,
  view: RoomView,
  o: { drafter?: "engine"; timeoutMs?: number } = {},
): Promise<void> {
  const query = `loopback=1&gflops=1${o.drafter === undefined ? "" : `&drafter=${o.drafter}`}`;
  await page.goto(viewUrl(roomUrl, view, query));
  await page.waitForSelector('[data-testid="leave"]:not([hidden])', {
    timeout: o.timeoutMs ?? 60_000,
  });
}

export async function showView(page: Page, view: RoomView): Promise<void> {
  await page.click(`a.tab[data-view="${view}"]`);
  await page.waitForSelector(`a.tab[data-view="${view}"][aria-current="page"]`);
}

/** Clicks "Start contributing" (after the probe) on the Contribute page. */
export async function startContributing(page: Page, timeoutMs = 120_000): Promise<void> {
  await showView(page, "contribute");
  await page.waitForSelector('[data-testid="contribute"]:not([disabled])', { timeout: timeoutMs });
  await page.click('[data-testid="contribute"]');
}

/** Waits until the contributor status shows one of `phases` ("ready", "serving", ...). */
export async function waitPhase(
  page: Page,
  phases: readonly string[],
  timeoutMs = 180_000,
): Promise<string> {
  const handle = await page.waitForFunction(
    (wanted) => {
      const phase = document
        .querySelector('[data-testid="contribute-status"]')
        ?.getAttribute("data-phase");
      return phase !== null && phase !== undefined && wanted.includes(phase) ? phase : null;
    },
    phases,
    { timeout: timeoutMs, polling: 200 },
  );
  return (await handle.jsonValue()) as string;
}

export interface ChatOptions {
  mode?: "pipeinfer" | "speculative" | "plain";
  /** Send with the Enter key in the prompt box instead of clicking Send. */
  keyboard?: boolean;
  temperature?: number;
  maxTokens?: number;
}

export interface Reply {
  state: string;
  tokenIds: number[];
  stopTokenId: number | undefined;
  text: string;
  stats: string;
  /** The error banner's entries ("CODE message"). */
  errors: string[];
}

/** Types a message and presses Send (does not wait). */
export async function sendMessage(page: Page, text: string, o: ChatOptions = {}): Promise<void> {
  if (o.mode !== undefined) await page.selectOption('[data-testid="mode"]', o.mode);
  if (o.temperature !== undefined)
    await page.fill('[data-testid="temperature"]', String(o.temperature));
  if (o.maxTokens !== undefined) await page.fill('[data-testid="max-tokens"]', String(o.maxTokens));
  const before = await page.$$eval(".transcript .msg.user", (els) => els.length);
  await page.fill('[data-testid="prompt"]', text);
  if (o.keyboard === true) await page.press('[data-testid="prompt"]', "Enter");
  else await page.click('[data-testid="send"]');
  await page.waitForFunction(
    (n) => document.querySelectorAll(".transcript .msg.user").length > n,
    before,
    { timeout: 10_000 },
  );
}

/** Waits for the reply to end (done, stopped or error) and reads it. */
export async function waitReply(page: Page, timeoutMs = 240_000): Promise<Reply> {
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="output"]')?.getAttribute("data-state");
      return s === "done" || s === "stopped" || s === "error";
    },
    null,
    { timeout: timeoutMs, polling: 200 },
  );
  return page.evaluate(() => {
    const out = document.querySelector('[data-testid="output"]') as HTMLElement;
    const ids = out.dataset["tokenIds"] ?? "";
    const replies = out.querySelectorAll(".msg.assistant");
    return {
      state: out.dataset["state"] ?? "",
      tokenIds: ids === "" ? [] : ids.split(",").map(Number),
      stopTokenId:
        out.dataset["stopTokenId"] === undefined ? undefined : Number(out.dataset["stopTokenId"]),
      text: replies[replies.length - 1]?.textContent ?? "",
      stats: document.querySelector('[data-testid="stats"]')?.textContent ?? "",
      errors: [...document.querySelectorAll('[data-testid="error"] .error-entry')].map(
        (e) => e.textContent ?? "",
      ),
    };
  });
}

/** The codes shown in the error banner. */
export function errorCodes(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="error"] .error-entry')].map(
      (e) => e.getAttribute("data-code") ?? "",
    ),
  );
}
