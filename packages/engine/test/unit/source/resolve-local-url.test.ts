// resolveModelSource / openModelSource for local directories and .gguf files (through nodeLocalFiles) and
// for http(s) directory and .gguf URLs (the hub stand-in's resolve URLs used as plain URLs): files, sizes
// and sha256 where the server names one; missing or wrong-kind paths are ERR_MODEL_SOURCE; without an
// injected file system a local path is ERR_MODEL_SOURCE too (the browser case).

import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../../src/errors.ts";
import { GgufModelDir } from "../../../src/loader/gguf-model.ts";
import { loadShardWeights } from "../../../src/loader/load-weights.ts";
import { loadModelConfig } from "../../../src/loader/model-files.ts";
import { resolveModelSource } from "../../../src/loader/source/resolve-source.ts";
import { splitLayers } from "../../../src/model/shard-spec.ts";
import { FileModelDir } from "../../../src/node/file-source.ts";
import { nodeLocalFiles, openModelSource } from "../../../src/node/model-source.ts";
import { FIXTURES_DIR, modelFixtureDir } from "../../fixtures/fixtures.ts";
import { startHubServer, type HubServer } from "../../support/hub-server.ts";

const CHAT = modelFixtureDir("llama-chat-f32");
const SHARDED = modelFixtureDir("mistral-sharded-bf16");
const GGUF = join(FIXTURES_DIR, "gguf", "llama-f16.gguf");
const COMMIT = "89abcdef0123456789abcdef0123456789abcdef";

async function rejectsModelSource(p: Promise<unknown>, text: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isEngineError(err, "ERR_MODEL_SOURCE"), String(err)).toBe(true);
  expect((err as Error).message).toContain(text);
}

describe("local sources", () => {
  it("a Hugging Face directory: its files and sizes", async () => {
    const r = await resolveModelSource(SHARDED, { local: nodeLocalFiles });
    expect(r).toMatchObject({
      format: "safetensors",
      location: SHARDED,
      name: "mistral-sharded-bf16",
    });
    expect(r.needsToken).toBe(false);
    expect(r.files.map((f) => f.name)).toEqual([
      "config.json",
      "model.safetensors.index.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]);
    for (const f of r.files) {
      expect(f.url).toBe(join(SHARDED, f.name));
      expect(f.size).toBe(statSync(f.url).size);
    }
  });

  it("a .gguf file and a file: URL, opened for loading", async () => {
    const { resolved, dir } = await openModelSource(`file://${GGUF}`);
    expect(resolved).toMatchObject({ format: "gguf", location: GGUF, name: "llama-f16.gguf" });
    expect(resolved.files).toEqual([
      { name: "llama-f16.gguf", url: GGUF, size: statSync(GGUF).size },
    ]);
    expect(dir).toBeInstanceOf(GgufModelDir);
    expect((await loadModelConfig(dir)).numLayers).toBeGreaterThan(0);
    const local = await openModelSource(CHAT);
    expect(local.dir).toBeInstanceOf(FileModelDir);
  });

  it("missing, wrong-kind and non-model paths are ERR_MODEL_SOURCE; no file system in a browser", async () => {
    const local = { local: nodeLocalFiles };
    await rejectsModelSource(
      resolveModelSource("/no/such/dir", local),
      "no such file or directory",
    );
    await rejectsModelSource(
      resolveModelSource(join(CHAT, "config.json"), local),
      "not a directory",
    );
    await rejectsModelSource(
      resolveModelSource(CHAT.replace(/\/?$/, ".gguf"), local),
      "no such file",
    );
    await rejectsModelSource(resolveModelSource(FIXTURES_DIR, local), "no config.json");
    await rejectsModelSource(resolveModelSource(CHAT), "needs the file system");
  });
});

describe("http(s) URL sources", () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer({
      separateCdn: true,
      repos: {
        "web/chat": {
          commit: COMMIT,
          files: {
            "config.json": join(CHAT, "config.json"),
            "model.safetensors": join(CHAT, "model.safetensors"),
            "tokenizer.json": join(CHAT, "tokenizer.json"),
          },
        },
        "web/gguf": { files: { "m.gguf": GGUF } },
      },
    });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it("a directory URL: files, sizes, sha256 from the ETag; loads like the disk copy", async () => {
    const base = `${hub.url}/web/chat/resolve/main/`;
    const { resolved, dir } = await openModelSource(base, { env: {} });
    expect(resolved).toMatchObject({
      format: "safetensors",
      location: base.slice(0, -1),
      name: "main",
      endpoint: "https://huggingface.co",
    });
    expect(resolved.revision).toBeUndefined(); // a plain URL pins nothing
    expect(resolved.files.map((f) => [f.name, f.size])).toEqual(
      ["config.json", "tokenizer.json", "model.safetensors"].map((n) => [
        n,
        statSync(join(CHAT, n)).size,
      ]),
    );
    expect(resolved.files.find((f) => f.name === "model.safetensors")?.sha256).toMatch(
      /^[0-9a-f]{64}$/,
    );
    const config = await loadModelConfig(dir);
    const range = splitLayers(config.numLayers, 2)[0]!;
    const disk = new FileModelDir(CHAT);
    expect(await loadShardWeights(dir, config, range)).toEqual(
      await loadShardWeights(disk, config, range),
    );
  });

  it("a .gguf URL", async () => {
    const url = `${hub.url}/web/gguf/resolve/main/m.gguf`;
    const { resolved, dir } = await openModelSource(url, { env: {} });
    expect(resolved).toMatchObject({ format: "gguf", location: url, name: "m.gguf" });
    expect(resolved.files[0]?.size).toBe(statSync(GGUF).size);
    expect(dir).toBeInstanceOf(GgufModelDir);
    expect(await loadModelConfig(dir)).toEqual(
      await loadModelConfig(new GgufModelDir(nodeLocalFiles.openFile(GGUF))),
    );
  });

  it("a missing URL is ERR_MODEL_SOURCE naming it", async () => {
    await rejectsModelSource(
      resolveModelSource(`${hub.url}/web/gguf/resolve/main/other.gguf`, { env: {} }),
      "other.gguf: HTTP 404",
    );
    await rejectsModelSource(
      resolveModelSource(`${hub.url}/web/nothing/`, { env: {} }),
      "no config.json",
    );
  });
});
