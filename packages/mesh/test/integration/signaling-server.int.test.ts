// The Node signaling server over real sockets: binds 127.0.0.1, answers bad input with coded errors
// without affecting other rooms, relays signals within a room, and serves static files with Range requests
// and cross-origin isolation headers (what `pipemesh serve` runs).
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startSignalingServer, type SignalingServer } from "../../src/node/signaling-server.ts";
import { createStaticHandler } from "../../src/node/static-server.ts";
import { SignalingClient } from "../../src/signaling/client.ts";
import { nodeWebSocketFactory } from "../../src/node/web-socket.ts";
import { toyCaps } from "../support/toy-room.ts";

const model = { id: "toy", layerCount: 4, layerBytes: 1000, embedBytes: 0, headBytes: 0 };
let server: SignalingServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pipemesh-static-"));
  mkdirSync(join(dir, "app"));
  mkdirSync(join(dir, "public", "models", "toy"), { recursive: true });
  writeFileSync(join(dir, "app", "index.html"), "<!doctype html><title>pipemesh</title>");
  writeFileSync(
    join(dir, "public", "models", "toy", "weights.bin"),
    Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff)),
  );
  writeFileSync(join(dir, "secret.txt"), "do not serve");
  server = await startSignalingServer({
    port: 0,
    limits: { maxMessageBytes: 4096, maxMessagesPerSecond: 50 },
    http: createStaticHandler({
      roots: [join(dir, "app"), join(dir, "public")],
      spaFallback: "/index.html",
    }),
  });
});
afterAll(async () => {
  await server.close();
});

function raw(): Promise<{
  ws: WebSocket;
  got: Record<string, unknown>[];
  closed: Promise<number>;
}> {
  const ws = new WebSocket(server.url);
  const got: Record<string, unknown>[] = [];
  ws.on("message", (d: Buffer) =>
    got.push(JSON.parse(d.toString("utf8")) as Record<string, unknown>),
  );
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve({ ws, got, closed }));
    ws.on("error", reject);
  });
}

describe("signaling server", () => {
  it("listens on 127.0.0.1 by default", () => {
    expect(server.host).toBe("127.0.0.1");
    expect(server.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/signal$/);
  });

  it("answers garbage with coded errors and keeps serving this and other rooms", async () => {
    const a = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
    const room = await a.createRoom(model);
    const states: number[] = [];
    a.on({ state: (s) => states.push(s.members.length) });
    await a.join({ ...room, role: "stage", caps: toyCaps() });
    const bad = await raw();
    bad.ws.send("{{{{");
    bad.ws.send(
      JSON.stringify({
        type: "join",
        v: 2,
        minV: 2,
        roomId: room.roomId,
        secret: "x".repeat(20),
        role: "stage",
        caps: toyCaps(),
      }),
    );
    bad.ws.send("x".repeat(10_000));
    bad.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await expect.poll(() => bad.got.length).toBe(4);
    expect(bad.got.map((m) => m["code"])).toEqual([
      "ERR_PROTOCOL_DECODE",
      "ERR_ROOM_SECRET",
      "ERR_MESSAGE_TOO_LARGE",
      "ERR_PROTOCOL_DECODE",
    ]);
    // A message far beyond every limit closes only that socket.
    bad.ws.send("y".repeat(2 * 1024 * 1024));
    expect(await bad.closed).toBe(1009);
    const b = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
    const joined = await b.join({ ...room, role: "stage", caps: toyCaps() });
    expect(joined.state.members.length).toBe(2);
    await expect.poll(() => states.at(-1)).toBe(2);
    b.destroy();
    await expect.poll(() => states.at(-1)).toBe(1);
    a.destroy();
  });

  it("refuses a client from a future protocol version", async () => {
    const c = await raw();
    c.ws.send(
      JSON.stringify({
        type: "join",
        v: 9,
        minV: 9,
        roomId: "abc",
        secret: "abc",
        role: "stage",
        caps: toyCaps(),
      }),
    );
    expect(await c.closed).toBe(4001);
    expect(c.got[0]?.["code"]).toBe("ERR_PROTOCOL_VERSION");
  });
});

describe("static files", () => {
  it("serves the app and models with COOP/COEP, ranges and an SPA fallback; never outside its roots", async () => {
    const base = server.httpUrl;
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    expect(index.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
    expect(await index.text()).toContain("pipemesh");
    expect((await fetch(`${base}/room/abc`)).status).toBe(200); // client-side route
    const part = await fetch(`${base}/models/toy/weights.bin`, {
      headers: { range: "bytes=100-109" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 100-109/1000");
    expect(Array.from(new Uint8Array(await part.arrayBuffer()))).toEqual([
      100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
    ]);
    const tail = await fetch(`${base}/models/toy/weights.bin`, { headers: { range: "bytes=-2" } });
    expect(Array.from(new Uint8Array(await tail.arrayBuffer()))).toEqual([998 & 0xff, 999 & 0xff]);
    expect(
      (await fetch(`${base}/models/toy/weights.bin`, { headers: { range: "bytes=5000-" } })).status,
    ).toBe(416);
    const whole = await fetch(`${base}/models/toy/weights.bin`);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect((await whole.arrayBuffer()).byteLength).toBe(1000);
    expect((await fetch(`${base}/..%2fsecret.txt`)).status).toBe(404);
    expect((await fetch(`${base}/models/missing.bin`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: "POST" })).status).toBe(405);
  });
});
