// The ws adapter for the signaling relay: upgrades requests on one path of an HTTP server (its own, or
// Vite's dev/preview server) and moves text between sockets and Relay. Binds 127.0.0.1 unless told
// otherwise. All room logic lives in signaling/relay.ts; this file only owns sockets and timers. On a server
// it owns (startSignalingServer) it also answers stray upgrades with 400, checks Host and Origin, adds
// security headers, times out slow request headers, caps connections, and refuses an exposed plain bind.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { MeshError } from "../errors.ts";
import { Relay, type RelayOptions } from "../signaling/relay.ts";
import { ConnectionTable } from "./connection-table.ts";
import { checkExposure, isLoopbackHost } from "./exposure.ts";
import { HttpGuard } from "./http-guard.ts";
import { answerServedIndex } from "./served-index.ts";

export const DEFAULT_SIGNAL_PATH = "/signal";

export interface AttachOptions extends RelayOptions {
  /** URL path of the WebSocket endpoint. */
  path?: string;
  /** How often silent connections are swept. */
  sweepIntervalMs?: number;
  /** A reverse proxy forwards the clients: their address is the last X-Forwarded-For entry. */
  behindProxy?: boolean;
  /** Refuses an upgrade on the signaling path with this status (e.g. a foreign Origin); null admits it. */
  verifyUpgrade?: (req: IncomingMessage) => { status: number; reason: string } | null;
}

/** Answers a raw upgrade socket with an HTTP status and closes it. */
function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The client's address for per-address limits. */
function clientAddress(req: IncomingMessage, behindProxy: boolean): string {
  const forwarded = req.headers["x-forwarded-for"];
  if (behindProxy && typeof forwarded === "string") {
    const last = forwarded.split(",").at(-1)?.trim();
    if (last !== undefined && last !== "") return last;
  }
  return req.socket.remoteAddress ?? "unknown";
}

/** Anything that emits Node's HTTP `upgrade` event (http.Server, https.Server, Vite's httpServer). */
export interface UpgradeEmitter {
  on(
    event: "upgrade",
    listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  ): unknown;
  off(
    event: "upgrade",
    listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  ): unknown;
}

export interface AttachedSignaling {
  readonly relay: Relay;
  readonly path: string;
  /** Closes every signaling socket and detaches (the HTTP server keeps running). Idempotent. */
  close(): Promise<void>;
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.byteLength, 0);
  return data.byteLength;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}

/** Serves signaling on `path` of an existing HTTP server. */
export function attachSignaling(
  server: UpgradeEmitter,
  options: AttachOptions = {},
): AttachedSignaling {
  const path = options.path ?? DEFAULT_SIGNAL_PATH;
  const relay = new Relay(options);
  const maxBytes = options.limits?.maxMessageBytes ?? 64 * 1024;
  // ws drops (close 1009) only far beyond the relay's limit, so ordinary oversized messages get a coded reply.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(1024 * 1024, maxBytes * 4),
  });
  const sockets = new Set<WebSocket>();

  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    sockets.add(ws);
    const session = relay.open({
      address: clientAddress(req, options.behindProxy === true),
      send: (text) => {
        if (ws.readyState === ws.OPEN) ws.send(text);
      },
      close: (code, reason) => ws.close(code, reason),
      bufferedBytes: () => ws.bufferedAmount,
    });
    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (isBinary) session.receiveBinary(rawLength(data));
      else session.receive(rawText(data), rawLength(data));
    });
    ws.on("close", () => {
      sockets.delete(ws);
      session.closed();
    });
    ws.on("error", () => ws.terminate());
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== path) return; // someone else's upgrade (Vite HMR)
    const refused = options.verifyUpgrade?.(req) ?? null;
    if (refused !== null) {
      refuseUpgrade(socket, refused.status, refused.reason);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };
  server.on("upgrade", onUpgrade);
  const sweep = setInterval(() => relay.sweep(), options.sweepIntervalMs ?? 1000);
  sweep.unref();

  let closing: Promise<void> | null = null;
  return {
    relay,
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(sweep);
        server.off("upgrade", onUpgrade);
        relay.destroy();
        for (const ws of sockets) ws.terminate();
        wss.close(() => resolve());
      });
      return closing;
    },
  };
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface SignalingServerOptions extends AttachOptions {
  /** Default 127.0.0.1: reachable from this machine only. Anything else needs `tls` or `behindProxy`. */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** Handles plain HTTP requests (the static web app and models); 404 otherwise. */
  http?: RequestHandler;
  /** Serve HTTPS/WSS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Origins besides the server's own that may open the signaling socket (e.g. the proxy's public one). */
  allowedOrigins?: readonly string[];
  /** Origins the app may connect to besides its own (a models URL elsewhere), for the CSP. */
  connectOrigins?: readonly string[];
  /** Open connections in total (default 4096). */
  maxConnections?: number;
  /** Open connections per client address (default 2048 on loopback, 64 otherwise). */
  maxConnectionsPerAddress?: number;
  /** Request headers must arrive within this long (default 10 s; open responses are not affected). */
  headersTimeoutMs?: number;
  /** `http` serves an API; unless it is keyed, binding a non-loopback host is ERR_INSECURE_BIND. */
  api?: { keyed: boolean };
}

export interface SignalingServer extends AttachedSignaling {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** ws://host:port/path */
  readonly url: string;
  /** http(s)://host:port */
  readonly httpUrl: string;
  /** One line: what this bind exposes, and to whom. */
  readonly exposure: string;
}

/** Starts an HTTP server with signaling on `path` (and optionally static files). */
export async function startSignalingServer(
  options: SignalingServerOptions = {},
): Promise<SignalingServer> {
  const host = options.host ?? "127.0.0.1";
  const tls = options.tls !== undefined;
  const exposure = checkExposure({
    host,
    port: options.port ?? 8787,
    tls,
    behindProxy: options.behindProxy === true,
    api: options.api,
  });
  const inner: RequestHandler =
    options.http ??
    ((_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    });
  let guard: HttpGuard | null = null; // built once the port is known
  const handler: RequestHandler = (req, res) => {
    if (guard === null) {
      res.writeHead(503).end();
      return;
    }
    for (const [k, v] of Object.entries(guard.headers())) res.setHeader(k, v);
    const refused = guard.check(req);
    if (refused !== null) {
      res.writeHead(refused.status, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${refused.reason}\n`);
      return;
    }
    if (answerServedIndex(req, res, options.models ?? [])) return;
    inner(req, res);
  };
  const serverOptions = { connectionsCheckingInterval: 1000 };
  const server: Server =
    options.tls === undefined
      ? createServer(serverOptions, handler)
      : createTlsServer({ ...serverOptions, ...options.tls }, handler);
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = 0; // whole-request limit off: headersTimeout guards slow openers
  new ConnectionTable({
    maxConnections: options.maxConnections ?? 4096,
    maxConnectionsPerAddress:
      options.maxConnectionsPerAddress ?? (isLoopbackHost(host) ? 2048 : 64),
  }).attach(server);
  const attached = attachSignaling(server, {
    ...options,
    verifyUpgrade: (req) => {
      if (guard === null) return { status: 503, reason: "Starting" };
      return guard.check(req) ?? options.verifyUpgrade?.(req) ?? null;
    },
  });
  // Upgrades on any other path: nothing else here speaks WebSocket.
  server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== attached.path)
      refuseUpgrade(socket, 400, "Bad Request");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(
        new MeshError(
          "ERR_SIGNALING_CLOSED",
          `cannot listen on ${host}:${options.port ?? 8787}: ${e.message}`,
          { cause: e },
        ),
      ),
    );
    server.listen(options.port ?? 8787, host, () => resolve());
  });
  const address = server.address();
  const port =
    typeof address === "object" && address !== null ? address.port : (options.port ?? 8787);
  guard = new HttpGuard({
    host,
    port,
    tls,
    ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
    ...(options.connectOrigins === undefined ? {} : { connectOrigins: options.connectOrigins }),
  });
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    relay: attached.relay,
    path: attached.path,
    server,
    host,
    port,
    url: `${tls ? "wss" : "ws"}://${hostPart}:${port}${attached.path}`,
    httpUrl: `${tls ? "https" : "http"}://${hostPart}:${port}`,
    exposure: exposure.replace(/:\d+ is/, `:${port} is`),
    async close() {
      await attached.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
