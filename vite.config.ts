// The one Vite config: the web app in apps/web, static files (models) from public/, ES-module workers,
// loopback-only dev/preview servers with cross-origin isolation headers (SharedArrayBuffer, threaded wasm),
// and the signaling server attached to Vite's own HTTP server, so development is one process. The dev and
// preview servers check Host and Origin as `pipemesh serve` does (HttpGuard: on every request and on the
// signaling upgrade) and answer stray WebSocket upgrades with 400 (Vite's own HMR socket excepted).
import { existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig, type Plugin } from "vite";
// By path, not "@pipemesh/mesh/node": Vite bundles this file but leaves bare imports to Node, and Node 20
// cannot load the workspace's TypeScript. These files pull in `ws` and nothing native.
import { HttpGuard } from "./packages/mesh/src/node/http-guard.ts";
import {
  attachSignaling,
  type AttachedSignaling,
  type UpgradeEmitter,
} from "./packages/mesh/src/node/signaling-server.ts";
import { ISOLATION_HEADERS } from "./packages/mesh/src/node/static-server.ts";

const repo = fileURLToPath(new URL(".", import.meta.url));

type Refusal = { status: number; reason: string } | null;

/** Answers a raw upgrade socket with an HTTP status and closes it (as `pipemesh serve` does). */
function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Vite's own HMR socket (and its ping), which Vite answers on the dev server's base path. */
function isViteSocket(req: IncomingMessage, base: string): boolean {
  const protocol = req.headers["sec-websocket-protocol"];
  const path = new URL(req.url ?? "/", "http://x").pathname;
  return (protocol === "vite-hmr" || protocol === "vite-ping") && path === base;
}

interface GuardedServer extends UpgradeEmitter {
  address(): AddressInfo | string | null;
  once?(event: "close", fn: () => void): unknown;
}

/**
 * Serves /signal (WebSocket) on the dev and preview servers; STUN/TURN come from the app's config. Host and
 * Origin are checked on every request and on the signaling upgrade with `pipemesh serve`'s HttpGuard, for
 * the address Vite actually bound (loopback by default; every interface's address with --host) plus the
 * hosts in `server.allowedHosts` / `preview.allowedHosts`; other upgrades get 400 unless they are Vite's HMR.
 */
function pipemeshSignaling(): Plugin {
  const attach = (
    httpServer: GuardedServer | null,
    o: { tls: boolean; allowedHosts: string[] | true; hmrBase: string | null },
    use: (fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void) => void,
  ): void => {
    if (httpServer === null) return; // middleware mode: the host app owns the server
    let guard: HttpGuard | null = null;
    const check = (req: IncomingMessage): Refusal => {
      if (o.allowedHosts === true) return null; // the user turned host checks off for this server
      if (guard === null) {
        const a = httpServer.address();
        if (a === null || typeof a === "string") return { status: 503, reason: "Starting" };
        const names = o.allowedHosts.filter((h) => !h.startsWith("."));
        guard = new HttpGuard({
          host: a.address,
          port: a.port,
          tls: o.tls,
          allowedOrigins: names.flatMap((h) => [`http://${h}`, `https://${h}`]),
        });
      }
      return guard.check(req);
    };
    use((req, res, next) => {
      const refused = check(req);
      if (refused === null) return next();
      res.statusCode = refused.status;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end(`${refused.reason}\n`);
    });
    const signaling: AttachedSignaling = attachSignaling(httpServer, { verifyUpgrade: check });
    const stray = (req: IncomingMessage, socket: Duplex): void => {
      if (new URL(req.url ?? "/", "http://x").pathname === signaling.path) return;
      if (o.hmrBase !== null && isViteSocket(req, o.hmrBase)) return;
      refuseUpgrade(socket, 400, "Bad Request");
    };
    httpServer.on("upgrade", stray);
    httpServer.once?.("close", () => {
      httpServer.off("upgrade", stray);
      void signaling.close();
    });
  };
  const hosts = (h: string[] | true | undefined): string[] | true => h ?? [];
  return {
    name: "pipemesh-signaling",
    configureServer(server) {
      const c = server.config;
      const hmr = c.server.hmr;
      // HMR on its own port or off: no HMR socket on this server.
      const ownSocket =
        hmr !== false && !(typeof hmr === "object" && (hmr.port ?? hmr.server) !== undefined);
      attach(
        server.httpServer,
        {
          tls: c.server.https !== undefined,
          allowedHosts: hosts(c.server.allowedHosts),
          hmrBase:
            ownSocket && c.server.ws !== false
              ? posix.join(c.base, typeof hmr === "object" ? (hmr.path ?? "") : "")
              : null,
        },
        (fn) => server.middlewares.use(fn),
      );
    },
    configurePreviewServer(server) {
      const c = server.config;
      attach(
        server.httpServer,
        {
          tls: c.preview.https !== undefined,
          allowedHosts: hosts(c.preview.allowedHosts),
          hmrBase: null,
        },
        (fn) => server.middlewares.use(fn),
      );
    },
  };
}

/**
 * Missing files under /models/ answer 404 on the dev and preview servers instead of falling back to
 * index.html (Vite's SPA fallback): the engine probes optional model files (chat_template.jinja, ONNX
 * external data) and must see them absent, as `pipemesh serve` reports them.
 */
function modelsNotFound(): Plugin {
  const guard =
    (root: string) =>
    (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      } catch {
        path = "";
      }
      if (!path.startsWith("/models/")) return next();
      if (path === "/models/served.json") {
        // The dev server lists no models beyond the default pair (pipemesh serve lists its own).
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(JSON.stringify({ models: [] }));
        return;
      }
      const file = resolve(root, `.${path}`);
      if (file.startsWith(resolve(root)) && existsSync(file) && statSync(file).isFile())
        return next();
      res.statusCode = 404;
      res.end("not found");
    };
  return {
    name: "pipemesh-models-not-found",
    configureServer(server) {
      server.middlewares.use(guard(`${repo}public`));
    },
    configurePreviewServer(server) {
      server.middlewares.use(guard(`${repo}dist`));
    },
  };
}

export default defineConfig({
  root: `${repo}apps/web`,
  publicDir: `${repo}public`,
  build: {
    outDir: `${repo}dist`,
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      // The engine imports its WebGPU backend lazily so Node CPU-only peers never load Dawn; in the web
      // bundle the same modules are also reached statically (the engine's index), which the bundler
      // reports as an "ineffective dynamic import" for each of them. Expected here, so not printed.
      onwarn(warning, warn) {
        if (warning.code === "INEFFECTIVE_DYNAMIC_IMPORT") return;
        warn(warning);
      },
    },
  },
  worker: { format: "es" },
  resolve: {
    // The workspaces' exports name their .ts sources under "source" (built JavaScript is for packages):
    // the app is always built from the current sources, with no package build before it.
    conditions: ["source", ...defaultClientConditions],
    // simple-peer 10 -> streamx -> events-universal, whose default export is Node's `events` (absent in
    // browsers: "Class extends value undefined"). bare-events is its pure-JS twin (already installed).
    alias: [{ find: /^events-universal$/, replacement: "bare-events" }],
  },
  server: { host: "127.0.0.1", headers: { ...ISOLATION_HEADERS } },
  preview: { host: "127.0.0.1", headers: { ...ISOLATION_HEADERS } },
  plugins: [pipemeshSignaling(), modelsNotFound()],
});
