// The packages install and run from built JavaScript: every workspace is packed (`npm pack -w ...`, whose
// prepack scripts build dist/ with tools/pack/build.mjs), the tarballs are installed together in an empty
// temporary folder offline from npm's cache (tools/pack/offline-install.mjs: nothing is downloaded), and
// there `npx pipemesh generate --backend cpu --json` generates with the embedded model pair the CLI package
// carries, and the engine and mesh import in plain Node, with no TypeScript loader anywhere in reach; a
// browser bundle of the installed engine and mesh (Vite, as an app depending on them would build it) holds
// no Node-only import; and `pipemesh serve` there serves the built web app (the @pipemesh/web package) and
// the embedded models.

import { execFile, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "vite";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const TIMEOUT_MS = 300_000;

/** The environment of a user's shell: no loader or condition that vitest or a caller might have set. */
function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_offline: "true",
    npm_config_update_notifier: "false",
  };
  delete env["NODE_OPTIONS"];
  return env;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe("packed workspaces install and run without a TypeScript loader", () => {
  const tmp = mkdtempSync(join(tmpdir(), "pipemesh-pack-install-"));
  const tarballs = join(tmp, "tarballs");
  const installed = join(tmp, "install");
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it(
    "npm pack -w every workspace, install offline, npx pipemesh generate --backend cpu, serve",
    async () => {
      const t0 = Date.now();
      mkdirSync(tarballs);
      const workspaces = (
        JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { workspaces: string[] }
      ).workspaces;
      await run(
        "npm",
        [
          "pack",
          ...workspaces.flatMap((w) => ["-w", w]),
          "--pack-destination",
          tarballs,
          "--loglevel=error",
        ],
        { cwd: REPO, env: plainEnv(), maxBuffer: 64 << 20 },
      );
      const packed = readdirSync(tarballs).filter((f) => f.endsWith(".tgz"));
      expect(packed).toHaveLength(workspaces.length);
      const t1 = Date.now();

      await run("node", [join(REPO, "tools/pack/offline-install.mjs"), tarballs, installed], {
        cwd: tmp,
        env: plainEnv(),
        maxBuffer: 64 << 20,
      });
      const t2 = Date.now();

      // Built JavaScript and declarations only; no TypeScript loader installed.
      const modules = join(installed, "node_modules");
      expect(existsSync(join(modules, "tsx"))).toBe(false);
      for (const pkg of ["engine", "mesh", "cli"]) {
        const files = filesUnder(join(modules, "@pipemesh", pkg));
        expect(files.filter((f) => /\.(m|c)?ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
      }
      // Dawn is the CLI's, not the engine's: a browser app depending on the engine does not get it.
      const engineManifest = JSON.parse(
        readFileSync(join(modules, "@pipemesh/engine/package.json"), "utf8"),
      ) as Record<string, Record<string, unknown> | undefined>;
      expect(engineManifest["dependencies"]?.["webgpu"]).toBeUndefined();
      expect(engineManifest["peerDependenciesMeta"]?.["webgpu"]).toEqual({ optional: true });
      expect(existsSync(join(modules, "@pipemesh/cli/public/models/default.json"))).toBe(true);

      const imported = await run(
        "node",
        [
          "--input-type=module",
          "-e",
          [
            'const names = ["@pipemesh/engine", "@pipemesh/engine/node", "@pipemesh/mesh", "@pipemesh/mesh/node"];',
            "const out = {};",
            "for (const n of names) out[n] = { url: import.meta.resolve(n), exports: Object.keys(await import(n)).length };",
            "console.log(JSON.stringify(out));",
          ].join("\n"),
        ],
        { cwd: installed, env: plainEnv() },
      );
      const mods = JSON.parse(imported.stdout) as Record<string, { url: string; exports: number }>;
      for (const [name, m] of Object.entries(mods)) {
        expect(m.url, name).toMatch(/\/node_modules\/@pipemesh\/[a-z]+\/dist\/.*\.js$/);
        expect(m.exports, name).toBeGreaterThan(0);
      }

      // A browser app's bundle of the installed engine and mesh: no node: module, nothing Vite had to stub.
      const app = join(installed, "app"); // inside the install: its node_modules resolve the packages
      mkdirSync(app);
      writeFileSync(
        join(app, "index.html"),
        '<!doctype html><script type="module" src="./main.js"></script>\n',
      );
      writeFileSync(
        join(app, "main.js"),
        'import * as engine from "@pipemesh/engine";\nimport * as mesh from "@pipemesh/mesh";\n' +
          "console.log(Object.keys(engine).length + Object.keys(mesh).length);\n",
      );
      await build({
        configFile: false,
        root: app,
        logLevel: "silent",
        resolve: { alias: [{ find: /^events-universal$/, replacement: "bare-events" }] },
        build: { outDir: join(app, "dist") },
        cacheDir: join(app, ".vite"),
      }).catch((e: unknown) => {
        throw new Error(`browser bundle of the installed packages failed: ${String(e)}`);
      });
      const bundle = filesUnder(join(app, "dist"))
        .filter((f) => f.endsWith(".js"))
        .map((f) => readFileSync(f, "utf8"))
        .join("\n");
      expect(bundle).toContain("ERR_GPU_UNAVAILABLE"); // the engine's code is in it
      expect(bundle).not.toMatch(/from\s*["']node:|import\(\s*["']node:|__vite-browser-external/);
      expect(bundle).not.toMatch(/dawn\.node|from\s*["']webgpu["']/);

      const gen = await run(
        "npx",
        [
          "pipemesh",
          "generate",
          "--prompt",
          "Once upon a time",
          "--max-tokens",
          "8",
          "--backend",
          "cpu",
          "--json",
        ],
        { cwd: installed, env: plainEnv(), maxBuffer: 16 << 20 },
      );
      const last = gen.stdout.trim().split("\n").pop() ?? "";
      const json = JSON.parse(last) as { tokens: number[]; backend: string; text: string };
      expect(json.backend).toBe("cpu");
      expect(json.tokens).toHaveLength(8);
      expect(json.text.length).toBeGreaterThan(0);

      // pipemesh serve: the web app from @pipemesh/web's dist/, the models from the CLI package.
      // (the installed bin itself, not npx, so that the kill below reaches the server)
      const serve = spawn(join(installed, "node_modules/.bin/pipemesh"), ["serve", "--port", "0"], {
        cwd: installed,
        env: plainEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        const room = await new Promise<string>((resolve, reject) => {
          let out = "";
          const onData = (b: Buffer): void => {
            out += b.toString();
            const m = /room for [^:]+: (http:\/\/\S+)/.exec(out);
            if (m?.[1] !== undefined) resolve(m[1]);
          };
          serve.stdout.on("data", onData);
          serve.stderr.on("data", onData);
          serve.on("exit", (code) => reject(new Error(`serve exited (${code}): ${out}`)));
        });
        expect(room).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
        const origin = new URL(room).origin;
        const page = await fetch(`${origin}/`);
        expect(page.status).toBe(200);
        expect(await page.text()).toMatch(/<script[^>]+src="\/assets\//);
        const pair = await fetch(`${origin}/models/default.json`);
        expect(pair.status).toBe(200);
        expect(((await pair.json()) as { name: string }).name).toBe("pipemesh-tiny");
      } finally {
        if (serve.exitCode === null && serve.signalCode === null) {
          const exited = new Promise((resolve) => serve.once("exit", resolve));
          serve.kill("SIGTERM");
          await exited;
        }
      }
      const t3 = Date.now();
      console.log(
        `pack-install: pack ${t1 - t0} ms, offline install ${t2 - t1} ms, checks + generate + serve ${t3 - t2} ms`,
      );
    },
    TIMEOUT_MS,
  );
});
