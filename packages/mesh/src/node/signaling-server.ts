// The ws adapter for the signaling relay: upgrades requests on one path of an HTTP server (its own, or
// Vite's dev/preview server) and moves text between sockets and Relay. Binds 127.0.0.1 unless told
// otherwise. All room logic lives in signaling/relay.ts; this file only owns sockets and timers.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { MeshError } from "../errors.ts";
import { Relay, type RelayOptions } from "../signaling/relay.ts";

export const DEFAULT_SIGNAL_PATH = "/signal";

export interface AttachOptions extends RelayOptions {
  /** URL path of the WebSocket endpoint. */
  path?: string;
  /** How often silent connections are swept. */
  sweepIntervalMs?: number;
  /** A reverse proxy forwards the clients: their address is the last X-Forwarded-For entry. */
  behindProxy?: boolean;
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
  /** Default 127.0.0.1: reachable from this machine only. */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** Handles plain HTTP requests (the static web app and models); 404 otherwise. */
  http?: RequestHandler;
}

export interface SignalingServer extends AttachedSignaling {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** ws://host:port/path */
  readonly url: string;
  /** http://host:port */
  readonly httpUrl: string;
}

/** Starts an HTTP server with signaling on `path` (and optionally static files). */
export async function startSignalingServer(
  options: SignalingServerOptions = {},
): Promise<SignalingServer> {
  const host = options.host ?? "127.0.0.1";
  const handler: RequestHandler =
    options.http ??
    ((_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    });
  const server = createServer(handler);
  const attached = attachSignaling(server, options);
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
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    relay: attached.relay,
    path: attached.path,
    server,
    host,
    port,
    url: `ws://${hostPart}:${port}${attached.path}`,
    httpUrl: `http://${hostPart}:${port}`,
    async close() {
      await attached.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
