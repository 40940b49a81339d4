// `pipemesh cache ls|rm KEY|clear`: the weight cache that join peers and heads read model byte ranges
// through (PIPEMESH_CACHE_DIR, else $XDG_CACHE_HOME/pipemesh, else ~/.cache/pipemesh; --dir overrides).
// Lists entries (key, bytes cached of the file's size, last use, URL), removes one by key, key prefix or
// URL, or removes everything. Reads and deletes only; it never downloads.

import { parseArgs } from "node:util";
import { entryBytes, type CacheEntry } from "@pipemesh/engine";
import { defaultCacheDir, openNodeCache } from "@pipemesh/engine/node";
import { CliError } from "../cli-error.ts";

const USAGE = `usage: pipemesh cache <ls|rm KEY|clear> [--dir DIR] [--json]
  ls          list cached files: key, bytes cached / file size, last used, URL
  rm KEY      remove one entry (its key, a unique key prefix, or its URL)
  clear       remove every entry
  --dir DIR   the cache directory (default: PIPEMESH_CACHE_DIR, else $XDG_CACHE_HOME/pipemesh,
              else ~/.cache/pipemesh)
  --json      ls: print a JSON array instead of a table`;

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function find(entries: readonly CacheEntry[], what: string): CacheEntry {
  const exact = entries.find((e) => e.key === what || e.url === what);
  if (exact !== undefined) return exact;
  const prefixed = entries.filter((e) => e.key.startsWith(what.toLowerCase()));
  if (prefixed.length === 1 && prefixed[0] !== undefined) return prefixed[0];
  throw new CliError(
    "ERR_CLI_USAGE",
    prefixed.length > 1
      ? `"${what}" matches ${prefixed.length} cache entries; give more of the key`
      : `no cache entry "${what}" (see pipemesh cache ls)`,
  );
}

export async function cacheCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        dir: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new CliError("ERR_CLI_USAGE", `${(e as Error).message}\n${USAGE}`);
  }
  const v = parsed.values;
  const [sub, ...args] = parsed.positionals;
  if (v.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dir = v.dir ?? defaultCacheDir();
  if (dir === null) {
    process.stderr.write("pipemesh cache: the weight cache is off (PIPEMESH_CACHE_DIR=off)\n");
    return 0;
  }
  const cache = openNodeCache({ dir });
  if (cache === undefined) return 0;
  switch (sub) {
    case "ls": {
      if (args.length > 0) break;
      const entries = await cache.list();
      if (v.json === true) {
        const rows = entries.map((e) => ({
          key: e.key,
          url: e.url,
          cachedBytes: entryBytes(e),
          size: e.size,
          etag: e.etag,
          lastUsed: new Date(e.lastUsed).toISOString(),
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      if (entries.length === 0) {
        process.stdout.write(`the weight cache in ${dir} is empty\n`);
        return 0;
      }
      const total = entries.reduce((a, e) => a + entryBytes(e), 0);
      process.stdout.write(`weight cache in ${dir}: ${entries.length} files, ${bytes(total)}\n`);
      for (const e of entries) {
        const used = new Date(e.lastUsed).toISOString().replace(/\.\d+Z$/, "Z");
        const held = `${bytes(entryBytes(e))} / ${bytes(e.size)}`;
        process.stdout.write(`${e.key}  ${held.padEnd(24)}  ${used}  ${e.url}\n`);
      }
      return 0;
    }
    case "rm": {
      const [what] = args;
      if (what === undefined || args.length > 1) break;
      const entry = find(await cache.list(), what);
      await cache.remove(entry.key);
      process.stdout.write(`removed ${entry.key} (${bytes(entryBytes(entry))}, ${entry.url})\n`);
      return 0;
    }
    case "clear": {
      if (args.length > 0) break;
      const before = await cache.usage();
      await cache.clear();
      process.stdout.write(`cleared the weight cache in ${dir} (${bytes(before)})\n`);
      return 0;
    }
    case undefined:
    default:
      break;
  }
  throw new CliError("ERR_CLI_USAGE", USAGE);
}
