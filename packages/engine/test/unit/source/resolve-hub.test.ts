// resolveModelSource and openResolvedModelDir against a local stand-in for the Hub (test/support/hub-server.ts,
// resolve routes only): hf: directory and .gguf ids through HF_ENDPOINT, the revision pinned from
// X-Repo-Commit, sha256 and sizes recorded from headers, only headers and small JSON read; the token goes to
// the endpoint and never to a CDN on another origin; a gated repo needs it; missing things are
// ERR_MODEL_SOURCE; and a model loaded through the opened ModelDir equals the same fixture loaded from disk.

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../../src/errors.ts";
import { GgufModelDir } from "../../../src/loader/gguf-model.ts";
import { HttpModelDir } from "../../../src/loader/http-source.ts";
import { loadShardWeights } from "../../../src/loader/load-weights.ts";
import { loadModelConfig } from "../../../src/loader/model-files.ts";
import { openResolvedModelDir } from "../../../src/loader/source/open-source.ts";
import {
  resolveModelSource,
  type ResolvedModelSource,
} from "../../../src/loader/source/resolve-source.ts";
import { followScoped } from "../../../src/loader/source/scoped-fetch.ts";
import { splitLayers } from "../../../src/model/shard-spec.ts";
import { openModelDir } from "../../../src/node/file-source.ts";
import { FIXTURES_DIR, modelFixtureDir } from "../../fixtures/fixtures.ts";
import { startHubServer, type HubServer } from "../../support/hub-server.ts";

const CHAT = modelFixtureDir("llama-chat-f32");
const SHARDED = modelFixtureDir("mistral-sharded-bf16");
const GGUF = join(FIXTURES_DIR, "gguf", "llama-q4km-mix.gguf");
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "hf_test_token";

function dirFiles(dir: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, join(dir, n)]));
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

async function modelSourceError(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(isEngineError(e, "ERR_MODEL_SOURCE"), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error("expected ERR_MODEL_SOURCE");
}

const REPOS = {
  "acme/chat": {
    commit: COMMIT,
    files: dirFiles(CHAT, [
      "config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]),
  },
  "acme/sharded": {
    files: dirFiles(SHARDED, [
      "config.json",
      "model.safetensors.index.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]),
  },
  "acme/chat-GGUF": { revisions: ["main", "v1"], files: { "q4/llama-q4km-mix.gguf": GGUF } },
  "acme/gated": { token: TOKEN, files: dirFiles(CHAT, ["config.json", "model.safetensors"]) },
  "acme/no-weights": { files: dirFiles(CHAT, ["config.json"]) },
  "acme/bad-index": {
    files: {
      "config.json": join(CHAT, "config.json"),
      "model.safetensors.index.json": new TextEncoder().encode(
        JSON.stringify({ weight_map: { "a.weight": "missing-00001.safetensors" } }),
      ),
    },
  },
};

let hub: HubServer;
let cdnHub: HubServer;

beforeAll(async () => {
  hub = await startHubServer({ repos: REPOS });
  cdnHub = await startHubServer({ repos: REPOS, separateCdn: true });
});

afterAll(async () => {
  await hub?.close();
  await cdnHub?.close();
});

const envOf = (server: HubServer, token?: string): Record<string, string | undefined> => ({
  HF_ENDPOINT: server.url,
  HF_TOKEN: token,
});

describe("resolveModelSource with hf: ids", () => {
  it("resolves a directory repo through HF_ENDPOINT, pinning the commit and reading only headers", async () => {
    const before = hub.bytesServed();
    const r = await resolveModelSource("hf:acme/chat", { env: envOf(hub) });
    expect(r).toMatchObject({
      name: "chat",
      format: "safetensors",
      revision: COMMIT,
      location: `${hub.url}/acme/chat/resolve/${COMMIT}`,
      endpoint: hub.url,
      needsToken: false,
    });
    const byName = new Map(r.files.map((f) => [f.name, f]));
    expect([...byName.keys()].sort()).toEqual(
      ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"].sort(),
    );
    for (const f of r.files) {
      expect(f.size).toBe(statSync(join(CHAT, f.name)).size);
      expect(f.url).toBe(`${hub.url}/acme/chat/resolve/${COMMIT}/${f.name}`);
    }
    expect(byName.get("model.safetensors")?.sha256).toBe(sha256(join(CHAT, "model.safetensors")));
    expect(byName.get("config.json")?.sha256).toBeUndefined(); // a git blob id, not a sha256
    expect(byName.get("config.json")?.etag).toMatch(/^[0-9a-f]{40}$/);
    // Only HEADs: no body bytes at all, and no /api route asked for.
    expect(hub.bytesServed() - before).toBe(0);
    expect(hub.requests.some((q) => q.path.startsWith("/api"))).toBe(false);
    // After the first answer every request names the commit.
    const paths = hub.requests.filter((q) => q.path.startsWith("/acme/chat/")).map((q) => q.path);
    expect(paths[0]).toBe("/acme/chat/resolve/main/config.json");
    expect(paths.slice(1).every((p) => p.includes(`/resolve/${COMMIT}/`))).toBe(true);
  });

  it("resolves a sharded repo from its index, reading only the index JSON", async () => {
    const before = hub.bytesServed();
    const r = await resolveModelSource("hf:acme/sharded@main", { env: envOf(hub) });
    const names = r.files.map((f) => f.name);
    expect(names).toEqual([
      "config.json",
      "model.safetensors.index.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]);
    for (const f of r.files) expect(f.size).toBe(statSync(join(SHARDED, f.name)).size);
    const shard = r.files[3]!;
    expect(shard.sha256).toBe(sha256(join(SHARDED, shard.name)));
    const read = hub.bytesServed() - before;
    expect(read).toBe(statSync(join(SHARDED, "model.safetensors.index.json")).size);
    const weights = r.files.slice(2).reduce((a, f) => a + f.size, 0);
    expect(read).toBeLessThan(weights / 20);
  });

  it("resolves a .gguf file in a repo at a revision", async () => {
    const r = await resolveModelSource("hf:acme/chat-GGUF@v1/q4/llama-q4km-mix.gguf", {
      env: envOf(hub),
    });
    const commit = r.revision ?? "";
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(r).toMatchObject({
      name: "llama-q4km-mix.gguf",
      format: "gguf",
      location: `${hub.url}/acme/chat-GGUF/resolve/${commit}/q4/llama-q4km-mix.gguf`,
      needsToken: false,
    });
    expect(r.files).toEqual([
      {
        name: "llama-q4km-mix.gguf",
        url: r.location,
        size: statSync(GGUF).size,
        sha256: sha256(GGUF),
        etag: sha256(GGUF),
      },
    ]);
  });

  it("falls back to GET bytes=0-0 where HEAD is refused, still reading almost nothing", async () => {
    const noHead = await startHubServer({ repos: REPOS, refuseHead: true });
    try {
      const r = await resolveModelSource("hf:acme/chat", { env: envOf(noHead) });
      expect(r.revision).toBe(COMMIT);
      const st = r.files.find((f) => f.name === "model.safetensors");
      expect(st?.size).toBe(statSync(join(CHAT, "model.safetensors")).size);
      expect(st?.sha256).toBe(sha256(join(CHAT, "model.safetensors")));
      expect(noHead.bytesServed()).toBeLessThanOrEqual(r.files.length);
    } finally {
      await noHead.close();
    }
  });

  it("keeps the asked revision when the endpoint sends no X-Repo-Commit", async () => {
    const bare = await startHubServer({ repos: REPOS, sendCommit: false });
    try {
      const r = await resolveModelSource("hf:acme/chat", { env: envOf(bare) });
      expect(r.revision).toBe("main");
      expect(r.location).toBe(`${bare.url}/acme/chat/resolve/main`);
    } finally {
      await bare.close();
    }
  });

  it("names the spec and the cause for missing repos, revisions, files and weights", async () => {
    const env = envOf(hub);
    let e = await modelSourceError(resolveModelSource("hf:acme/nope", { env }));
    expect(e.message).toContain('"hf:acme/nope"');
    expect(e.message).toContain("401 RepoNotFound");
    e = await modelSourceError(resolveModelSource("hf:acme/chat@nope", { env }));
    expect(e.message).toContain("no config.json");
    e = await modelSourceError(resolveModelSource("hf:acme/chat-GGUF/other.gguf", { env }));
    expect(e.message).toContain("404");
    e = await modelSourceError(resolveModelSource("hf:acme/no-weights", { env }));
    expect(e.message).toContain("neither model.safetensors nor model.safetensors.index.json");
    e = await modelSourceError(resolveModelSource("hf:acme/bad-index", { env }));
    expect(e.message).toContain("missing-00001.safetensors");
    e = await modelSourceError(
      resolveModelSource("hf:acme/chat", { env: { HF_ENDPOINT: "ftp://x" } }),
    );
    expect(e.message).toContain("HF_ENDPOINT");
    e = await modelSourceError(
      resolveModelSource("hf:acme/chat", { env: { HF_ENDPOINT: "http://127.0.0.1:1" } }),
    );
    expect(e.message).toContain("http://127.0.0.1:1/acme/chat/resolve/main/config.json");
  });

  it("an aborted resolution is ERR_ABORTED", async () => {
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(
      resolveModelSource("hf:acme/chat", { env: envOf(hub), signal: ac.signal }),
    ).rejects.toMatchObject({ code: "ERR_ABORTED" });
  });
});

describe("tokens", () => {
  it("a gated repo without HF_TOKEN is ERR_MODEL_SOURCE (401); with it, it resolves and needs the token", async () => {
    const e = await modelSourceError(resolveModelSource("hf:acme/gated", { env: envOf(cdnHub) }));
    expect(e.message).toContain("401 GatedRepo");
    expect(e.message).toContain("HF_TOKEN");
    const wrong = await modelSourceError(
      resolveModelSource("hf:acme/gated", { env: envOf(cdnHub, "hf_wrong") }),
    );
    expect(wrong.message).toContain("token was not accepted");

    const r = await resolveModelSource("hf:acme/gated", { env: envOf(cdnHub, TOKEN) });
    expect(r.needsToken).toBe(true);
    expect(r.files.find((f) => f.name === "model.safetensors")?.sha256).toBe(
      sha256(join(CHAT, "model.safetensors")),
    );
    expect(() => openResolvedModelDir(r, { env: {} })).toThrow(/ERR_MODEL_SOURCE.*HF_TOKEN/);
  });

  it("goes to the endpoint's origin only, never to a CDN on another origin", async () => {
    const start = cdnHub.requests.length;
    const env = envOf(cdnHub, TOKEN);
    const r = await resolveModelSource("hf:acme/gated", { env });
    const dir = openResolvedModelDir(r, { env });
    const config = await loadModelConfig(dir);
    const weights = await loadShardWeights(dir, config, splitLayers(config.numLayers, 2)[1]!);
    expect(weights.layers.length).toBeGreaterThan(0);
    const seen = cdnHub.requests.slice(start);
    const toHub = seen.filter((q) => q.server === "hub");
    const toCdn = seen.filter((q) => q.server === "cdn");
    expect(toCdn.length).toBeGreaterThan(0);
    expect(toCdn.every((q) => q.authorization === undefined)).toBe(true);
    expect(
      toHub.filter((q) => q.status !== 401).every((q) => q.authorization === `Bearer ${TOKEN}`),
    ).toBe(true);
  });

  it("an ungated repo's reads send the token only to the endpoint too", async () => {
    const start = cdnHub.requests.length;
    const env = envOf(cdnHub, TOKEN);
    const r = await resolveModelSource("hf:acme/chat-GGUF/q4/llama-q4km-mix.gguf", { env });
    expect(r.needsToken).toBe(false);
    const dir = openResolvedModelDir(r, { env });
    await loadModelConfig(dir);
    const seen = cdnHub.requests.slice(start);
    expect(seen.some((q) => q.server === "cdn")).toBe(true);
    expect(seen.filter((q) => q.server === "cdn").every((q) => q.authorization === undefined)).toBe(
      true,
    );
  });

  it("followScoped drops a caller's Authorization and adds the token only on the origin", async () => {
    const seen: { url: string; auth: string | null; redirect: RequestRedirect | undefined }[] = [];
    const fake = (url: string, init?: RequestInit): Promise<Response> => {
      const auth = new Headers(init?.headers).get("authorization");
      seen.push({ url, auth, redirect: init?.redirect });
      if (url.startsWith("https://hub.test/a")) {
        return Promise.resolve(
          new Response(null, { status: 302, headers: { location: "https://cdn.test/x" } }),
        );
      }
      if (url === "https://cdn.test/x") {
        return Promise.resolve(
          new Response(null, { status: 307, headers: { location: "https://hub.test/b" } }),
        );
      }
      return Promise.resolve(new Response("ok", { status: 200 }));
    };
    const got = await followScoped(
      "https://hub.test/a",
      { headers: { authorization: "Bearer leaked" } },
      { token: "t", origin: "https://hub.test/", fetch: fake },
    );
    expect(await got.response.text()).toBe("ok");
    expect(got.url).toBe("https://hub.test/b");
    expect(got.hops).toHaveLength(3);
    expect(seen.map((s) => [s.url, s.auth, s.redirect])).toEqual([
      ["https://hub.test/a", "Bearer t", "manual"],
      ["https://cdn.test/x", null, "manual"],
      ["https://hub.test/b", "Bearer t", "manual"],
    ]);
  });
});

async function sameModel(
  dir: Awaited<ReturnType<typeof openResolvedModelDir>>,
  disk: string,
): Promise<void> {
  const local = openModelDir(disk);
  const [config, want] = await Promise.all([loadModelConfig(dir), loadModelConfig(local)]);
  expect(config).toEqual(want);
  for (const range of splitLayers(config.numLayers, 2)) {
    const [got, exp] = await Promise.all([
      loadShardWeights(dir, config, range),
      loadShardWeights(local, config, range),
    ]);
    expect(got).toEqual(exp);
  }
}

describe("loading a resolved Hub model equals loading the fixture from disk", () => {
  let chat: ResolvedModelSource;

  beforeAll(async () => {
    chat = await resolveModelSource("hf:acme/chat", { env: envOf(cdnHub) });
  });

  it("a directory repo (config and both halves' weights; weights come from the CDN)", async () => {
    const dir = openResolvedModelDir(chat, { env: {} });
    expect(dir).toBeInstanceOf(HttpModelDir);
    const before = cdnHub.requests.length;
    await sameModel(dir, CHAT);
    const after = cdnHub.requests.slice(before);
    expect(after.some((q) => q.server === "cdn" && q.status === 206)).toBe(true);
    expect(after.every((q) => !q.path.includes("/resolve/main/"))).toBe(true);
  });

  it("a sharded repo", async () => {
    const r = await resolveModelSource("hf:acme/sharded", { env: envOf(cdnHub) });
    await sameModel(openResolvedModelDir(r, { env: {} }), SHARDED);
  });

  it("a .gguf file, reading the shard's bytes and not the whole file", async () => {
    const r = await resolveModelSource("hf:acme/chat-GGUF/q4/llama-q4km-mix.gguf", {
      env: envOf(hub),
    });
    const dir = openResolvedModelDir(r, { env: {} });
    expect(dir).toBeInstanceOf(GgufModelDir);
    const before = hub.bytesServed();
    const local = openModelDir(GGUF);
    const [config, want] = await Promise.all([loadModelConfig(dir), loadModelConfig(local)]);
    expect(config).toEqual(want);
    const last = splitLayers(config.numLayers, 2)[1]!;
    expect(await loadShardWeights(dir, config, last)).toEqual(
      await loadShardWeights(local, config, last),
    );
    expect(hub.bytesServed() - before).toBeLessThan(statSync(GGUF).size);
  });
});
