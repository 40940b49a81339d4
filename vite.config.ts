// The one Vite config: the web app in apps/web, static files (models) from public/, ES-module workers,
// loopback-only dev/preview servers with cross-origin isolation headers (SharedArrayBuffer, threaded wasm),
// and the signaling server attached to Vite's own HTTP server, so development is one process.
import { existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig, type Plugin } from "vite";
// By path, not "@pipemesh/mesh/node": Vite bundles this file but leaves bare imports to Node, and Node 20
// cannot load the workspace's TypeScript. These two files pull in `ws` and nothing native.
import {
  attachSignaling,
  type AttachedSignaling,
  type UpgradeEmitter,
} from "./packages/mesh/src/node/signaling-server.ts";
import { ISOLATION_HEADERS } from "./packages/mesh/src/node/static-server.ts";

const repo = fileURLToPath(new URL(".", import.meta.url));

/** Serves /signal (WebSocket) on the dev and preview servers; STUN/TURN come from the app's config. */
function pipemeshSignaling(): Plugin {
  const attach = (httpServer: UpgradeEmitter | null): void => {
    if (httpServer === null) return; // middleware mode: the host app owns the server
    const signaling: AttachedSignaling = attachSignaling(httpServer);
    (httpServer as { once?: (event: "close", fn: () => void) => unknown }).once?.("close", () => {
      void signaling.close();
    });
  };
  return {
    name: "pipemesh-signaling",
    configureServer(server) {
      attach(server.httpServer);
    },
    configurePreviewServer(server) {
      attach(server.httpServer);
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
