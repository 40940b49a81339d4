// The web app as `pipemesh serve` serves it: built once per test process with the repository's Vite
// config into a temporary directory, then served with the models' public root and the signaling server
// on one loopback port (HTTP Range, COOP/COEP, SPA fallback). Test-only.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { createStaticHandler, startSignalingServer } from "@pipemesh/mesh/node";
import { REPO } from "./test-model.ts";

let built: Promise<string> | undefined;

/** Builds the app once per process (about 5 s); the directory is removed at exit. */
export function buildApp(): Promise<string> {
  built ??= (async () => {
    const out = mkdtempSync(join(tmpdir(), "pipemesh-e2e-dist-"));
    process.once("exit", () => rmSync(out, { recursive: true, force: true }));
    await build({
      configFile: join(REPO, "vite.config.ts"),
      logLevel: "error",
      publicDir: false,
      build: { outDir: out, emptyOutDir: true },
    });
    return out;
  })();
  return built;
}

export interface AppServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  close(): Promise<void>;
}

export async function startApp(publicRoot: string): Promise<AppServer> {
  const dist = await buildApp();
  const server = await startSignalingServer({
    host: "127.0.0.1",
    port: 0,
    http: createStaticHandler({ roots: [dist, publicRoot], spaFallback: "/index.html" }),
  });
  let closed = false;
  return {
    origin: server.httpUrl,
    close: async () => {
      if (closed) return;
      closed = true;
      await server.close();
    },
  };
}
