// A Vite dev server on 127.0.0.1 (a free port) serving the engine's parity harness page (test/support/
// harness/), which imports the engine's TypeScript sources directly, so Chromium runs exactly the code
// under test. Files anywhere in the repository are reachable under /@fs/ (model fixtures). Test-only.

import { fileURLToPath } from "node:url";
import { createServer, type ViteDevServer } from "vite";

export const HARNESS_DIR = fileURLToPath(new URL("./harness/", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export interface HarnessServer {
  /** Base URL, e.g. http://127.0.0.1:41234/ */
  url: string;
  /** URL path under which a repository file is served (Vite's /@fs/ prefix). */
  fsPath(absolutePath: string): string;
  close(): Promise<void>;
}

export async function startHarnessServer(root: string = HARNESS_DIR): Promise<HarnessServer> {
  const server: ViteDevServer = await createServer({
    root,
    configFile: false,
    logLevel: "warn",
    clearScreen: false,
    server: { host: "127.0.0.1", port: 0, hmr: false, fs: { allow: [REPO_ROOT] } },
    worker: { format: "es" },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (address === null || address === undefined || typeof address === "string") {
    await server.close();
    throw new Error("the harness server has no TCP address");
  }
  return {
    url: `http://127.0.0.1:${address.port}/`,
    fsPath: (p) => `/@fs${p}`,
    close: () => server.close(),
  };
}
