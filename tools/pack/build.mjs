#!/usr/bin/env node
// Builds the publishable JavaScript of the workspaces: `node tools/pack/build.mjs [engine] [mesh] [cli]`
// (every workspace with a tsconfig.build.json when none is named, dependencies first). Each package's `prepack` script runs it for itself, so `npm pack -w ...`
// always packs a fresh build; nothing in a clone needs it (the monorepo runs the .ts sources through the
// "source" export condition and the tsx loader, see packages/engine/src/node/register.mjs).
//
// Per package: tsc -p tsconfig.build.json (JavaScript + .d.ts in dist/, relative `.ts` imports rewritten to
// `.js`), then fix-ups that tsc cannot do:
//   - engine: every `import x from "./k.wgsl?raw"` becomes `import x from "./k.wgsl.js"`, a generated module
//     whose default export is the WGSL text. Plain Node has no `?raw` (the sources get it from a loader hook,
//     Vite has it built in) and other bundlers do not know it; a string module works in all of them, with no
//     loader and no bundler plugin, and keeps the kernels' WGSL in one place (the .wgsl files).
//   - engine: the worker_threads bootstraps (src/worker/*-node.mjs) are copied without their TypeScript
//     loader import and with `.ts` imports pointing at the built `.js`; `new Worker(new URL("./x.ts", ...))`
//     (browser workers) points at `./x.js` so a consumer's bundler finds the built worker.
//   - all: relative `.ts` specifiers left in .d.ts files are rewritten to `.js`; ambient .d.ts sources are
//     copied next to their output.
//   - cli (with --models): the embedded default model pair (public/models/default.json and the folders it
//     names) is copied into apps/cli/public/models/, where an installed CLI looks for it
//     (apps/cli/src/head/models.ts; `serve` serves that public/ folder, which holds the models and nothing
//     else). `postpack` removes the copy again (tools/pack/clean.mjs): a clone reads the repository's.
// A dist/.build-stamp records a finished build; a package's build first rebuilds the workspaces it depends on when
// their stamp is missing or older than any of their sources (it type-checks against their .d.ts).
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Buildable workspaces (those with a tsconfig.build.json), by their short name: engine, mesh, cli, ... */
const PACKAGES = {};
/** Each one's @pipemesh/* dependencies among them, by short name. */
const DEPS = {};
const byName = {};
for (const ws of JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).workspaces) {
  const dir = join(REPO, ws);
  if (!existsSync(join(dir, "tsconfig.build.json"))) continue;
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const short = ws.split("/").pop();
  PACKAGES[short] = dir;
  byName[pkg.name] = short;
  DEPS[short] = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies });
}
for (const short of Object.keys(DEPS)) DEPS[short] = DEPS[short].flatMap((n) => byName[n] ?? []);
/** Dependencies first. */
const ORDERED = [];
const visit = (n) => {
  if (ORDERED.includes(n)) return;
  for (const d of DEPS[n]) visit(d);
  ORDERED.push(n);
};
for (const n of Object.keys(PACKAGES)) visit(n);
const TSC = createRequire(join(REPO, "package.json")).resolve("typescript/bin/tsc");

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function newestMtime(dir) {
  let t = 0;
  for (const f of walk(dir)) t = Math.max(t, statSync(f).mtimeMs);
  return t;
}

function isFresh(name) {
  const pkg = PACKAGES[name];
  const stamp = join(pkg, "dist/.build-stamp");
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return (
    built >= newestMtime(join(pkg, "src")) &&
    built >= statSync(join(pkg, "tsconfig.build.json")).mtimeMs
  );
}

const rel = (spec) => spec.startsWith("./") || spec.startsWith("../");
const toJs = (spec) => spec.replace(/\.(m|c)?tsx?$/, (m) => (m.startsWith(".m") ? ".mjs" : ".js"));

/** Relative `.ts` specifiers in declaration files: `from "./x.ts"`, `import("./x.ts")`. */
function fixDeclarations(file) {
  const src = readFileSync(file, "utf8");
  const out = src.replace(/(from\s+|import\(\s*)(["'])([^"']+)\2/g, (m, lead, q, spec) =>
    rel(spec) ? `${lead}${q}${toJs(spec)}${q}` : m,
  );
  if (out !== src) writeFileSync(file, out);
}

/** `?raw` imports become imports of generated string modules next to the importing file. */
function inlineRaw(file, srcDir, distDir) {
  const src = readFileSync(file, "utf8");
  const out = src.replace(/(from\s+|import\(\s*)(["'])([^"']+)\?raw\2/g, (_m, lead, q, spec) => {
    const distTarget = join(dirname(file), spec);
    const text = readFileSync(join(srcDir, relative(distDir, distTarget)), "utf8");
    mkdirSync(dirname(distTarget), { recursive: true });
    writeFileSync(
      `${distTarget}.js`,
      `// Generated by tools/pack/build.mjs from ${relative(distDir, distTarget)}.\n` +
        `export default ${JSON.stringify(text)};\n`,
    );
    writeFileSync(`${distTarget}.d.ts`, `declare const source: string;\nexport default source;\n`);
    return `${lead}${q}${spec}.js${q}`;
  });
  const workers = out.replace(
    /new URL\(\s*(["'])(\.\.?\/[^"']+)\.ts\1\s*,\s*import\.meta\.url\s*\)/g,
    (_m, q, spec) => `new URL(${q}${spec}.js${q}, import.meta.url)`,
  );
  if (workers !== src) writeFileSync(file, workers);
}

/** A worker_threads bootstrap without the TypeScript loader, importing the built modules. */
function copyBootstrap(from, to) {
  const src = readFileSync(from, "utf8");
  const out = src
    .replace(/^import\s+["']@pipemesh\/engine\/node-register["'];\s*\n/m, "")
    .replace(/(import\(\s*|from\s+)(["'])(\.\.?\/[^"']+)\.ts\2/g, (_m, lead, q, spec) => {
      return `${lead}${q}${spec}.js${q}`;
    });
  if (out.includes("node-register") || /\.ts["']/.test(out)) {
    throw new Error(`${from}: could not strip the TypeScript loader from this bootstrap`);
  }
  writeFileSync(to, out);
}

function copyModels(cli) {
  const from = join(REPO, "public/models");
  const to = join(cli, "public/models");
  rmSync(join(cli, "public"), { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  const pair = JSON.parse(readFileSync(join(from, "default.json"), "utf8"));
  copyFileSync(join(from, "default.json"), join(to, "default.json"));
  // The folder(s) holding the pair (e.g. pipemesh-tiny/, with its GGUF twins and model card).
  const roots = new Set(
    [pair.target, pair.draft, pair.draftWeak].filter(Boolean).map((p) => p.split("/")[0]),
  );
  for (const r of roots) cpSync(join(from, r), join(to, r), { recursive: true });
}

function build(name, { models }) {
  const pkg = PACKAGES[name];
  const dist = join(pkg, "dist");
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [TSC, "-p", join(pkg, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error(`tsc failed for ${name} (exit ${r.status})`);
  const srcDir = join(pkg, "src");
  for (const f of walk(srcDir)) {
    const target = join(dist, relative(srcDir, f));
    if (f.endsWith(".d.ts")) copyFileSync(f, target);
  }
  for (const f of walk(dist)) {
    if (f.endsWith(".d.ts")) fixDeclarations(f);
    else if (f.endsWith(".js")) inlineRaw(f, srcDir, dist);
  }
  if (existsSync(join(srcDir, "worker"))) {
    for (const f of readdirSync(join(srcDir, "worker"))) {
      if (f.endsWith("-node.mjs"))
        copyBootstrap(join(srcDir, "worker", f), join(dist, "worker", f));
    }
  }
  if (models && existsSync(join(pkg, "bin/pipemesh.mjs"))) copyModels(pkg);
  writeFileSync(join(dist, ".build-stamp"), `${new Date().toISOString()}\n`);
  console.log(`pipemesh build: ${name} -> ${relative(REPO, dist)} (${Date.now() - started} ms)`);
}

const args = process.argv.slice(2);
const models = args.includes("--models");
const names = args.filter((a) => !a.startsWith("--"));
for (const n of names) if (!(n in PACKAGES)) throw new Error(`unknown package ${n}`);
const wanted = names.length === 0 ? ORDERED : names;
// Dependencies not asked for are rebuilt only when stale (the .d.ts they give are type-checked against).
const deps = ORDERED.filter((n) => !wanted.includes(n) && wanted.some((w) => dependsOn(w, n)));
for (const name of ORDERED) {
  if (deps.includes(name) && !isFresh(name)) build(name, { models: false });
  else if (wanted.includes(name)) build(name, { models });
}

function dependsOn(a, b) {
  return DEPS[a].includes(b) || DEPS[a].some((d) => dependsOn(d, b));
}
