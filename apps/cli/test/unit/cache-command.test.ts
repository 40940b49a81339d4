// `pipemesh cache ls|rm|clear` on a cache directory filled through the engine's HTTP weight cache.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HttpSource } from "@pipemesh/engine";
import { openNodeCache } from "@pipemesh/engine/node";
import { cacheCommand } from "../../src/commands/cache.ts";
let dir: string;
const files = new Map<string, Uint8Array>();

/** A fetch over `files` answering HEAD (with an ETag) and single Range GETs. */
function fakeFetch(url: string, init?: RequestInit): Promise<Response> {
  const body = files.get(url);
  if (body === undefined) return Promise.resolve(new Response(null, { status: 404 }));
  const headers = { etag: `"${body.length}"`, "content-length": String(body.length) };
  if (init?.method === "HEAD") return Promise.resolve(new Response(null, { headers }));
  const range = new Headers(init?.headers).get("range") ?? "";
  const m = /^bytes=(\d+)-(\d+)$/.exec(range);
  const [s, e] = [Number(m?.[1] ?? 0), Number(m?.[2] ?? body.length - 1)];
  return Promise.resolve(
    new Response(body.slice(s, e + 1), {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${s}-${e}/${body.length}` },
    }),
  );
}

function setFile(url: string, bytes: Uint8Array): string {
  files.set(url, bytes);
  return url;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pipemesh-cache-cli-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await cacheCommand([...argv, "--dir", dir]), out };
  } finally {
    spy.mockRestore();
  }
}

describe("pipemesh cache", () => {
  it("lists entries, removes one by key prefix, and clears", async () => {
    const a = setFile("http://models.test/m/a.safetensors", new Uint8Array(3000).fill(1));
    const b = setFile("http://models.test/m/b.safetensors", new Uint8Array(5000).fill(2));
    const opts = { fetch: fakeFetch };
    await new HttpSource(a, { ...opts, cache: openNodeCache({ dir }) }).read(0, 2000);
    await new HttpSource(b, { ...opts, cache: openNodeCache({ dir }) }).read(100, 4000);

    const listed = JSON.parse((await run("ls", "--json")).out) as {
      key: string;
      url: string;
      cachedBytes: number;
      size: number;
    }[];
    expect(listed.map((e) => [e.url, e.cachedBytes, e.size]).sort()).toEqual([
      [a, 2000, 3000],
      [b, 4000, 5000],
    ]);
    const table = await run("ls");
    expect(table.out).toContain(a);
    expect(table.out).toContain("2 files");

    const keyA = listed.find((e) => e.url === a)?.key ?? "";
    expect((await run("rm", keyA.slice(0, 10))).code).toBe(0);
    const after = JSON.parse((await run("ls", "--json")).out) as { url: string }[];
    expect(after.map((e) => e.url)).toEqual([b]);
    await expect(run("rm", "ffffffffffff")).rejects.toThrow(/no cache entry/);

    expect((await run("clear")).code).toBe(0);
    expect((await run("ls")).out).toContain("is empty");
  });
});
