#!/usr/bin/env node
// Installs packed workspaces (the .tgz files `npm pack -w ...` wrote) into an empty folder, offline, from
// npm's cache: `node tools/pack/offline-install.mjs TARBALL_DIR INSTALL_DIR`.
//
// `npm install --offline ./*.tgz` alone cannot do it: npm 11 resolves every dependency range from the
// registry's *full* package documents, and `npm ci` caches only tarballs (and abbreviated documents), so an
// offline install without a lockfile stops at the first dependency (ENOTCACHED). This script therefore
// writes the folder's package.json (the tarballs as file: dependencies, the root's `overrides`) and a
// package-lock.json that pins every dependency the tarballs need to the version, integrity and layout of
// this repository's package-lock.json, the tree `npm ci` installed and cached; then
// `npm install --offline --no-audit --no-fund` only unpacks tarballs from the cache. Nothing is
// downloaded; a dependency missing from the cache fails the install (ENOTCACHED) instead.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const REGISTRY = "https://registry.npmjs.org/";

/** Lockfile entry fields an installed package keeps (dev/peer flags describe the monorepo, not this tree). */
const KEEP = [
  "version",
  "resolved",
  "integrity",
  "license",
  "dependencies",
  "optionalDependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "bin",
  "engines",
  "os",
  "cpu",
  "libc",
  "optional",
  "hasInstallScript",
  "funding",
];

function registryUrl(name, version) {
  const base = name.startsWith("@") ? name.split("/")[1] : name;
  return `${REGISTRY}${name}/-/${base}-${version}.tgz`;
}

/** Runtime dependency names of a package.json or lock entry (optional peers are not installed by npm). */
function runtimeDeps(p) {
  const optionalPeers = new Set(
    Object.entries(p.peerDependenciesMeta ?? {})
      .filter(([, m]) => m?.optional)
      .map(([n]) => n),
  );
  return [
    ...Object.keys(p.dependencies ?? {}),
    ...Object.keys(p.optionalDependencies ?? {}),
    ...Object.keys(p.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n)),
  ];
}

export function offlineInstall(tarballDir, installDir, { log = console.error } = {}) {
  const root = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  const mono = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")).packages;
  mkdirSync(installDir, { recursive: true });

  // The tarballs, matched to their workspaces by package name.
  const workspaces = new Map(); // name -> { dir (monorepo location), pkg, file }
  const byName = new Map(
    root.workspaces.map((ws) => [
      JSON.parse(readFileSync(join(REPO, ws, "package.json"))).name,
      ws,
    ]),
  );
  for (const file of readdirSync(tarballDir).filter((f) => f.endsWith(".tgz"))) {
    const listing = spawnSync("tar", ["-xzOf", join(tarballDir, file), "package/package.json"], {
      encoding: "utf8",
    });
    if (listing.status !== 0)
      throw new Error(`${file}: no package/package.json (${listing.stderr})`);
    const pkg = JSON.parse(listing.stdout);
    const ws = byName.get(pkg.name);
    if (ws === undefined)
      throw new Error(`${file}: ${pkg.name} is not a workspace of this repository`);
    copyFileSync(join(tarballDir, file), join(installDir, file));
    workspaces.set(pkg.name, { ws, pkg, file });
  }

  const lock = {};
  const rootDeps = {};
  for (const [name, { pkg, file }] of workspaces) {
    rootDeps[name] = `file:${file}`;
    const integrity =
      "sha512-" +
      createHash("sha512")
        .update(readFileSync(join(installDir, file)))
        .digest("base64");
    const entry = { version: pkg.version, resolved: `file:${file}`, integrity };
    for (const k of KEEP.slice(3)) if (pkg[k] !== undefined) entry[k] = pkg[k];
    lock[`node_modules/${name}`] = entry;
  }

  // Monorepo location -> location here: a workspace's nested node_modules move under its installed copy.
  const relocate = (loc) => {
    for (const [name, { ws }] of workspaces) {
      if (loc.startsWith(`${ws}/`)) return `node_modules/${name}/${loc.slice(ws.length + 1)}`;
    }
    return loc;
  };
  /** Node's resolution of `dep` from monorepo location `from`, in the monorepo's lockfile. */
  const resolveIn = (from, dep) => {
    let at = from;
    for (;;) {
      const key = at === "" ? `node_modules/${dep}` : `${at}/node_modules/${dep}`;
      if (mono[key] !== undefined) return key;
      if (at === "") return undefined;
      const i = at.lastIndexOf("/node_modules/");
      at = i >= 0 ? at.slice(0, i) : "";
    }
  };

  const queue = [...workspaces.values()].map(({ ws, pkg }) => ({
    from: ws,
    deps: runtimeDeps(pkg),
  }));
  while (queue.length > 0) {
    const { from, deps } = queue.pop();
    for (const dep of deps) {
      if (workspaces.has(dep)) continue;
      const key = resolveIn(from, dep);
      if (key === undefined) {
        // An optional dependency for another platform is simply absent from the lockfile's tree.
        continue;
      }
      const m = mono[key];
      if (m.link) {
        throw new Error(`${dep} (needed from ${from}) is a workspace that was not packed`);
      }
      const here = relocate(key);
      if (lock[here] !== undefined) continue;
      const entry = {};
      for (const k of KEEP) if (m[k] !== undefined) entry[k] = m[k];
      entry.resolved ??= registryUrl(key.slice(key.lastIndexOf("node_modules/") + 13), m.version);
      lock[here] = entry;
      queue.push({ from: key, deps: runtimeDeps(m) });
    }
  }

  const manifest = {
    name: "pipemesh-packed-install",
    version: "0.0.0",
    private: true,
    dependencies: rootDeps,
    ...(root.overrides ? { overrides: root.overrides } : {}),
  };
  const sorted = Object.fromEntries(Object.entries(lock).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(join(installDir, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeFileSync(
    join(installDir, "package-lock.json"),
    JSON.stringify(
      {
        name: manifest.name,
        version: manifest.version,
        lockfileVersion: 3,
        requires: true,
        packages: {
          "": { name: manifest.name, version: manifest.version, dependencies: rootDeps },
          ...sorted,
        },
      },
      null,
      2,
    ) + "\n",
  );
  log(
    `pipemesh offline install: ${workspaces.size} tarballs, ${Object.keys(lock).length - workspaces.size} dependencies pinned`,
  );
  const npm = spawnSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"],
    {
      cwd: installDir,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, npm_config_offline: "true" },
    },
  );
  if (npm.status !== 0) throw new Error(`npm install --offline failed (exit ${npm.status})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [tarballDir, installDir] = process.argv.slice(2);
  if (!tarballDir || !installDir) {
    console.error("usage: node tools/pack/offline-install.mjs TARBALL_DIR INSTALL_DIR");
    process.exit(2);
  }
  offlineInstall(resolve(tarballDir), resolve(installDir));
}
