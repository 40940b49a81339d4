// `npm run dev` (the repo's vite.config.ts) guards its signaling socket as `pipemesh serve` does: a foreign
// Host or Origin is refused on the signaling upgrade and on plain requests, a WebSocket upgrade on any other
// path is answered 400 and closed instead of left hanging, and Vite's own HMR socket and the signaling
// socket still open. Real Vite dev server on 127.0.0.1, real sockets.
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type ViteDevServer } from "vite";
import WebSocket from "ws";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
let vite: ViteDevServer;
let port = 0;

beforeAll(async () => {
  vite = await createServer({
    configFile: `${repo}vite.config.ts`,
    logLevel: "silent",
    server: { port: 0, strictPort: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await vite.listen();
  const a = vite.httpServer?.address();
  port = typeof a === "object" && a !== null ? a.port : 0;
});
afterAll(async () => {
  await vite?.close();
});

/** A raw upgrade request: the status it was answered with (101 when switched), and whether it closed. */
function upgrade(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...headers,
      },
    });
    const deadline = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to the upgrade on ${path} within 5 s (left hanging)`));
    }, 5_000);
    req.on("upgrade", (res, socket) => {
      clearTimeout(deadline);
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, closed: false });
    });
    req.on("response", (res) => {
      res.resume();
      res.on("close", () => {
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, closed: true });
      });
    });
    req.on("error", (e) => {
      clearTimeout(deadline);
      reject(e);
    });
    req.end();
  });
}

function get(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the Vite dev server's signaling (npm run dev)", () => {
  it("opens the signaling socket for its own origin", async () => {
    const opened = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/signal`, {
        headers: { Origin: `http://localhost:${port}` },
      });
      ws.on("open", () => {
        ws.close();
        resolve(true);
      });
      ws.on("error", () => resolve(false));
    });
    expect(opened).toBe(true);
  });

  it("refuses a foreign Host (421) or Origin (403) on the signaling upgrade", async () => {
    expect(await upgrade("/signal", { Host: "evil.example" })).toEqual({
      status: 421,
      closed: true,
    });
    expect(await upgrade("/signal", { Origin: "http://evil.example" })).toEqual({
      status: 403,
      closed: true,
    });
    expect((await upgrade("/signal")).status).toBe(101);
  });

  it("answers an upgrade on another path with 400 instead of leaving it open", async () => {
    expect(await upgrade("/not-signal")).toEqual({ status: 400, closed: true });
    expect(await upgrade("/", { "Sec-WebSocket-Protocol": "chat" })).toEqual({
      status: 400,
      closed: true,
    });
  });

  it("leaves Vite's HMR socket to Vite", async () => {
    expect((await upgrade("/", { "Sec-WebSocket-Protocol": "vite-hmr" })).status).toBe(101);
  });

  it("checks Host and Origin on plain requests too", async () => {
    // Vite's own host check (403) answers before ours (421) on plain requests; either refuses.
    expect([403, 421]).toContain(await get("/", { Host: "evil.example" }));
    expect(await get("/", { Origin: "http://evil.example" })).toBe(403);
    expect(await get("/", { Origin: `http://127.0.0.1:${port}` })).toBe(200);
  });
});
