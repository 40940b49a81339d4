// A room for a Hub model in the browser: the server resolves `hf:OWNER/REPO/FILE.gguf` through a local Hub
// stand-in (as `pipemesh serve --model` does), a Chromium tab contributes its layers straight from the
// Hub by HTTP Range (CORS, as the Hub allows) and reads only its own tensors' bytes beyond the header, a
// `pipemesh join` peer holds the rest, and `pipemesh generate --room` gives the float64 greedy tokens of
// the same file loaded from disk.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { roomUrl } from "@pipemesh/mesh";
import { createStaticHandler, startSignalingServer } from "@pipemesh/mesh/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemorySource, readGgufHeader } from "@pipemesh/engine";
import { chromiumPath } from "../../../packages/engine/test/support/chromium.ts";
import {
  ggufFixturePath,
  loadGgufGolden,
} from "../../../packages/engine/test/fixtures/gguf-fixtures.ts";
import {
  startHubServer,
  type HubServer,
} from "../../../packages/engine/test/support/hub-server.ts";
import { openServedModel, servedModelsHandler } from "../../cli/src/head/served-sources.ts";
import { generateTokens, goldenArgs, startCli } from "../../cli/test/support/run-cli.ts";
import { buildApp } from "./support/app-server.ts";
import { openRoom, startContributing, waitPhase } from "./support/app-page.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { REPO } from "./support/test-model.ts";

const REQUIRE = process.env["REQUIRE_WEBGPU"] === "1";
const haveChromium = chromiumPath() !== null;
if (!haveChromium && REQUIRE) throw new Error("REQUIRE_WEBGPU=1 but no Chromium (CHROMIUM_PATH)");

const FIXTURE = "llama-q4km-mix";
const golden = loadGgufGolden(FIXTURE);

describe.skipIf(!haveChromium)(
  `a Hub model's room in the browser (${haveChromium ? "Chromium" : "no Chromium: skipped"})`,
  () => {
    let hub: HubServer;
    let server: Awaited<ReturnType<typeof startSignalingServer>>;
    let browser: TestBrowser;
    const children: ChildProcess[] = [];
    const dirs: string[] = [];

    beforeAll(async () => {
      hub = await startHubServer({
        repos: {
          "pipemesh/tiny-gguf": { files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) } },
        },
      });
      const served = await openServedModel(
        `hf:pipemesh/tiny-gguf/${FIXTURE}.gguf`,
        new Set(),
        undefined,
        { HF_ENDPOINT: hub.url },
      );
      const dist = await buildApp();
      server = await startSignalingServer({
        host: "127.0.0.1",
        port: 0,
        models: [served.info],
        connectOrigins: [hub.url],
        http: servedModelsHandler(
          [served],
          createStaticHandler({ roots: [dist, join(REPO, "public")], spaFallback: "/index.html" }),
        ),
      });
      const { roomId, secret } = server.relay.createRoom(served.info, { emptyTtlMs: 600_000 });
      url = roomUrl(server.httpUrl, roomId, secret);
      hubRoomId = roomId;
      browser = await launchBrowser({ webgpu: false });
    });
    let url = "";
    let hubRoomId = "";

    afterAll(async () => {
      for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
      await browser?.close();
      await server?.close();
      await hub?.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it("a tab reads only its own tensors from the Hub; with a join peer the reply is the file's", async () => {
      const tab = await browser.newPeer("hub-tab");
      await openRoom(tab.page, url, "contribute");
      await tab.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
      await startContributing(tab.page);
      expect(await waitPhase(tab.page, ["ready", "serving"])).toBe("ready");
      const status = (await tab.page.textContent('[data-testid="contribute-status"]')) ?? "";
      const [start, end] = (/layers (\d+)–(\d+)/.exec(status) ?? []).slice(1).map(Number);
      expect(end).toBeGreaterThan(start ?? Infinity);

      // What the tab read, beyond the header, is exactly its layers' tensors (and the head's, as tail).
      const header = await readGgufHeader(
        new MemorySource(new Uint8Array(readFileSync(ggufFixturePath(FIXTURE))), "file"),
      );
      const tail = /LM head/.test(status);
      const own = [...header.tensors.values()].filter((t) => {
        const layer = /^blk\.(\d+)\./.exec(t.name)?.[1];
        if (layer !== undefined) return Number(layer) >= start! && Number(layer) < end!;
        return tail && (t.name === "output_norm.weight" || t.name === "output.weight");
      });
      const ranges = hub.requests
        .filter(
          (r) =>
            r.method === "GET" &&
            r.status === 206 && // the bytes themselves (the 302 from resolve to the CDN carries none)
            /Chrome/.test(r.userAgent ?? "") &&
            r.range !== undefined,
        )
        .map((r) => {
          const [a, b] = /bytes=(\d+)-(\d+)/
            .exec(r.range ?? "")!
            .slice(1)
            .map(Number);
          return { offset: a!, length: b! - a! + 1 };
        })
        .filter((r) => r.offset >= header.dataStart);
      const read = ranges.reduce((s, r) => s + r.length, 0);
      expect(read).toBe(own.reduce((s, t) => s + t.sizeBytes, 0));
      for (const r of ranges) {
        const inside = own.filter(
          (t) => t.offset >= r.offset && t.offset + t.sizeBytes <= r.offset + r.length,
        );
        expect(inside.reduce((s, t) => s + t.sizeBytes, 0)).toBe(r.length);
      }

      const cache = mkdtempSync(join(tmpdir(), "pipemesh-hub-e2e-"));
      dirs.push(cache);
      const env = { HF_ENDPOINT: hub.url, PIPEMESH_CACHE_DIR: cache };
      // The edge claims the tab's measured speed, so the room splits the layers between the two (a probe
      // on a loaded machine can measure a peer slow enough to be left idle, and the reply then takes one).
      const tabSpeed = server.relay
        .room(hubRoomId)
        ?.state()
        .members.find((m) => m.role === "stage")?.caps.matmulGflops;
      expect(tabSpeed).toBeGreaterThan(0);
      const speed = ["--matmul-gflops", String(tabSpeed)];
      const peer = startCli(["join", "--backend", "cpu", "--name", "hub-edge", ...speed], {
        ...env,
        PIPEMESH_ROOM_URL: url,
      });
      children.push(peer);
      const { tokens } = await generateTokens(
        ["--room", url, "--min-stages", "2", ...goldenArgs(golden)],
        env,
      );
      expect(tokens).toEqual(golden.greedy);
      expect(tab.errors).toEqual([]);
    });

    it("the landing page offers a room for the served Hub model, and creates one", async () => {
      const tab = await browser.newPeer("landing");
      await tab.page.goto(`${server.httpUrl}/?loopback=1`);
      const button = await tab.page.waitForSelector(
        `[data-testid="create-room-for"][data-model="${FIXTURE}.gguf"]`,
        { timeout: 30_000 },
      );
      await button.click();
      const created = await (
        await tab.page.waitForSelector('[data-testid="room-url"]', { timeout: 30_000 })
      ).inputValue();
      expect(created).toMatch(/\/room\/[A-Za-z0-9]+#/);
      expect(tab.errors).toEqual([]);
      await tab.close();
    });

    it("a gated Hub model: the tab loads through the server, which alone holds the token", async () => {
      const gated = await startHubServer({
        repos: {
          "pipemesh/gated-gguf": {
            files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) },
            token: "hf_e2e_token",
          },
        },
      });
      const served = await openServedModel(
        `hf:pipemesh/gated-gguf/${FIXTURE}.gguf`,
        new Set(),
        undefined,
        { HF_ENDPOINT: gated.url, HF_TOKEN: "hf_e2e_token" },
      );
      // The descriptor sends peers to this server, never to the Hub.
      expect(served.info.source?.url).toBe(`/models/${FIXTURE}.gguf`);
      const proxy = await startSignalingServer({
        host: "127.0.0.1",
        port: 0,
        models: [served.info],
        http: servedModelsHandler(
          [served],
          createStaticHandler({ roots: [await buildApp()], spaFallback: "/index.html" }),
        ),
      });
      try {
        const { roomId, secret } = proxy.relay.createRoom(served.info, { emptyTtlMs: 600_000 });
        const tab = await browser.newPeer("gated-tab");
        await openRoom(tab.page, roomUrl(proxy.httpUrl, roomId, secret), "contribute");
        await tab.page.waitForSelector('[data-testid="no-webgpu"]', { timeout: 60_000 });
        await startContributing(tab.page);
        expect(await waitPhase(tab.page, ["ready", "serving"])).toBe("ready");
        // The tab's layers came from the Hub through the server (with its token), not from the tab.
        expect(gated.requests.filter((r) => /Chrome/.test(r.userAgent ?? ""))).toEqual([]);
        const answered = gated.requests.filter((r) => r.server === "hub" && r.status < 400);
        expect(answered.length).toBeGreaterThan(0);
        for (const r of answered) expect(r.authorization).toBe("Bearer hf_e2e_token");
        expect(tab.errors).toEqual([]);
        await tab.close();
      } finally {
        await proxy.close();
        await gated.close();
      }
    });
  },
);
