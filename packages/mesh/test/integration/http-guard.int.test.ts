// The HTTP/WS server pipemesh owns, under abuse, over real loopback sockets: stray upgrades get 400 and are
// closed, Host and Origin are checked, security headers are sent, slow request headers time out, the
// connection table evicts idle openers, and an exposed plain bind is refused (TLS or a proxy are fine).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startSignalingServer, type SignalingServer } from "../../src/node/signaling-server.ts";
import { isMeshError } from "../../src/errors.ts";

const servers: SignalingServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(
  options: Parameters<typeof startSignalingServer>[0] = {},
): Promise<SignalingServer> {
  const s = await startSignalingServer({
    port: 0,
    http: (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
    },
    ...options,
  });
  servers.push(s);
  return s;
}

/** A raw TCP client: what it received and when it was closed. */
function rawClient(
  port: number,
): Promise<{ socket: Socket; text: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const t0 = performance.now();
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (text += d));
    const closed = new Promise<number>((r) => socket.on("close", () => r(performance.now() - t0)));
    socket.on("error", () => {});
    socket.once("connect", () => resolve({ socket, text: () => text, closed }));
    socket.once("error", reject);
  });
}

function wsOpen(url: string, headers: Record<string, string> = {}): Promise<number | "open"> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("error", () => {});
  });
}

describe("the owned HTTP server", () => {
  it("answers an upgrade on another path with 400 and closes it within 1 s", async () => {
    const s = await start();
    const c = await rawClient(s.port);
    c.socket.write(
      "GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1:" +
        s.port +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    );
    const ms = await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 400/);
    expect(ms).toBeLessThan(1000);
  });

  it("checks Host and Origin, and sends security headers", async () => {
    const s = await start({ allowedOrigins: ["https://mesh.example.org"] });
    const ok = await fetch(`${s.httpUrl}/`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
    expect(ok.headers.get("referrer-policy")).toBe("no-referrer");
    const csp = ok.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("'wasm-unsafe-eval'");
    expect(csp).toContain("worker-src 'self' blob:");
    expect(csp).not.toContain("["); // CSP cannot name IPv6 literals: browsers reject the whole source
    expect(await wsOpen(s.url)).toBe("open"); // no Origin: a non-browser client
    expect(await wsOpen(s.url, { origin: s.httpUrl })).toBe("open");
    expect(await wsOpen(s.url, { origin: `http://localhost:${s.port}` })).toBe("open");
    expect(await wsOpen(s.url, { origin: "https://mesh.example.org" })).toBe("open");
    expect(await wsOpen(s.url, { origin: "https://evil.example" })).toBe(403);
    expect(await wsOpen(s.url, { host: "evil.example" })).toBe(421);
    const c = await rawClient(s.port);
    c.socket.write("GET / HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n");
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 421/);
  });

  it("closes a connection whose request headers do not arrive in time", async () => {
    const s = await start({ headersTimeoutMs: 500 });
    const c = await rawClient(s.port);
    c.socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // never finishes
    const ms = await c.closed;
    expect(ms).toBeLessThan(3000);
  });

  it("a full connection table closes the oldest connection without a complete request", async () => {
    const s = await start({ maxConnections: 4 });
    const idle = await Promise.all([1, 2, 3, 4].map(() => rawClient(s.port)));
    const res = await fetch(`${s.httpUrl}/`, { headers: { connection: "close" } });
    expect(res.status).toBe(200);
    await idle[0]?.closed;
    const stillOpen = idle
      .slice(1)
      .filter((c) => !c.socket.destroyed && c.socket.readyState === "open");
    expect(stillOpen.length).toBeGreaterThanOrEqual(2);
    for (const c of idle) c.socket.destroy();
  });

  it("caps connections per address", async () => {
    const s = await start({ maxConnectionsPerAddress: 2 });
    const a = await rawClient(s.port);
    const b = await rawClient(s.port);
    for (const c of [a, b]) c.socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`); // served, kept alive
    await expect.poll(() => a.text().length > 0 && b.text().length > 0).toBe(true);
    const third = await rawClient(s.port);
    await third.closed; // both earlier ones sent requests: the newcomer is refused
    expect(a.socket.destroyed).toBe(false);
    a.socket.destroy();
    b.socket.destroy();
  });
});

describe("exposure", () => {
  it("refuses plain HTTP/WS on a non-loopback address with ERR_INSECURE_BIND", async () => {
    const e = await startSignalingServer({ host: "0.0.0.0", port: 0 }).catch((x: unknown) => x);
    expect(isMeshError(e, "ERR_INSECURE_BIND")).toBe(true);
  });

  it("binds a non-loopback address behind a proxy, and says what it exposes", async () => {
    const s = await start({ host: "0.0.0.0", behindProxy: true });
    expect(s.exposure).toContain("reverse proxy");
  });

  it("serves HTTPS/WSS with a certificate on a non-loopback address", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pipemesh-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    const s = await start({
      host: "0.0.0.0",
      tls: { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) },
    });
    expect(s.url.startsWith("wss://")).toBe(true);
    expect(s.exposure).toContain("HTTPS/WSS");
    const local = `wss://127.0.0.1:${s.port}/signal`;
    const opened = await new Promise<string>((resolve) => {
      const ws = new WebSocket(local, { rejectUnauthorized: false });
      ws.on("open", () => {
        ws.close();
        resolve("open");
      });
      ws.on("error", (err) => resolve(String(err)));
    });
    expect(opened).toBe("open");
  });
});
