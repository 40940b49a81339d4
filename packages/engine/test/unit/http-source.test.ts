// The HTTP ByteSource and ModelDir against a local server on 127.0.0.1:0 that honours Range requests:
// a shard loads over HTTP with the same weights as from disk, transferring only its tensors' bytes; a
// server without Range support still works; 404, truncation and abort give coded errors.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { HttpModelDir, HttpSource } from "../../src/loader/http-source.ts";
import { loadShardWeights, shardTensorList } from "../../src/loader/load-weights.ts";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { FileModelDir } from "../../src/node/file-source.ts";
import { readSafetensorsHeader } from "../../src/loader/safetensors.ts";
import { loadTokenizer } from "../../src/tokenizer/text-tokenizer.ts";
import { FIXTURES_DIR, modelFixtureDir } from "../fixtures/fixtures.ts";

interface Served {
  path: string;
  status: number;
  bytes: number;
}

let server: Server;
let base = "";
const served: Served[] = [];

/** Static files under FIXTURES_DIR; /norange/... ignores Range, /short/... sends fewer bytes than asked. */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const mode = url.pathname.split("/")[1] ?? "";
  const rel = url.pathname.replace(/^\/(norange|short|plain)\//, "");
  const path = join(FIXTURES_DIR, decodeURIComponent(rel));
  let size: number;
  try {
    if (!path.startsWith(FIXTURES_DIR) || !statSync(path).isFile()) throw new Error("not a file");
    size = statSync(path).size;
  } catch {
    res.writeHead(404).end();
    served.push({ path: rel, status: 404, bytes: 0 });
    return;
  }
  const body = readFileSync(path);
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  if (req.method === "HEAD") {
    res.writeHead(200, { "content-length": size, "accept-ranges": "bytes" }).end();
    return;
  }
  if (range !== null && mode !== "norange") {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), size - 1);
    if (start >= size) {
      res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      return;
    }
    let chunk = body.subarray(start, end + 1);
    if (mode === "short") chunk = chunk.subarray(0, Math.max(0, chunk.length - 3));
    res.writeHead(206, {
      "content-range": `bytes ${start}-${end}/${size}`,
      "content-length": chunk.length,
    });
    res.end(chunk);
    served.push({ path: rel, status: 206, bytes: chunk.length });
    return;
  }
  res.writeHead(200, { "content-length": size }).end(body);
  served.push({ path: rel, status: 200, bytes: size });
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function rejectsWith(p: Promise<unknown>, code: string) {
  return expect(p).rejects.toSatisfy((e) => isEngineError(e, code as never));
}

describe("HTTP model directory", () => {
  const fixture = "mistral-sharded-bf16";

  it("loads a middle shard with the same weights as from disk, transferring only its tensors", async () => {
    const dir = new HttpModelDir(`${base}/plain/models/${fixture}`);
    const config = await loadModelConfig(dir);
    const range = { layerStart: 1, layerEnd: 3, embeds: false, tail: false };
    served.length = 0;
    const overHttp = await loadShardWeights(dir, config, range);
    const fromDisk = await loadShardWeights(
      new FileModelDir(modelFixtureDir(fixture)),
      config,
      range,
    );
    expect(overHttp).toEqual(fromDisk);

    // Bytes served beyond the headers are exactly the shard's tensors.
    const disk = new FileModelDir(modelFixtureDir(fixture));
    const wanted = new Set(shardTensorList(config, range).map((w) => w.name));
    let tensorBytes = 0;
    let headerBytes = 0;
    for (const f of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
      const h = await readSafetensorsHeader(disk.open(f));
      headerBytes += h.headerBytes;
      for (const t of h.tensors.values()) if (wanted.has(t.name)) tensorBytes += t.sizeBytes;
    }
    // (The 404 is the probe for a single model.safetensors.)
    const weightFiles = served.filter((s) => s.path.endsWith(".safetensors") && s.status !== 404);
    const ranged = weightFiles.filter((s) => s.status === 206);
    expect(ranged).toEqual(weightFiles);
    expect(ranged.reduce((a, s) => a + s.bytes, 0)).toBe(tensorBytes + headerBytes);
  });

  it("reads the tokenizer and chat template over HTTP", async () => {
    const tok = await loadTokenizer(new HttpModelDir(`${base}/plain/models/llama-chat-f32/`));
    expect(tok.applyChatTemplate([{ role: "user", content: "hi" }])).toBe(
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("still works when the server ignores Range (one whole-file download)", async () => {
    const dir = new HttpModelDir(`${base}/norange/models/llama-gqa4-bias-f32`);
    const config = await loadModelConfig(dir);
    const range = { layerStart: 0, layerEnd: 2, embeds: true, tail: true };
    served.length = 0;
    const w = await loadShardWeights(dir, config, range);
    expect(w).toEqual(
      await loadShardWeights(
        new FileModelDir(modelFixtureDir("llama-gqa4-bias-f32")),
        config,
        range,
      ),
    );
    expect(served.filter((s) => s.status === 200 && s.path.endsWith(".safetensors"))).toHaveLength(
      1,
    );
  });

  it("turns 404, short bodies, unsatisfiable ranges and aborts into coded errors", async () => {
    const dir = new HttpModelDir(`${base}/plain/models/no-such-model`);
    expect(await dir.has("config.json")).toBe(false);
    await rejectsWith(dir.readText("config.json"), "ERR_FETCH");
    await rejectsWith(new HttpSource(`${base}/plain/models/nope.bin`).size(), "ERR_FETCH");

    const url = `${base}/short/models/${fixture}/model-00001-of-00002.safetensors`;
    await rejectsWith(new HttpSource(url).read(0, 64), "ERR_WEIGHTS_TRUNCATED");
    const src = new HttpSource(`${base}/plain/models/${fixture}/config.json`);
    const size = await src.size();
    await rejectsWith(src.read(size - 2, 10), "ERR_WEIGHTS_TRUNCATED");

    const controller = new AbortController();
    controller.abort();
    await rejectsWith(src.read(0, 4, controller.signal), "ERR_ABORTED");
    await rejectsWith(
      loadModelConfig(new HttpModelDir(`${base}/plain/models/${fixture}`), controller.signal),
      "ERR_ABORTED",
    );
  });

  it("fails cleanly when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await rejectsWith(
      new HttpModelDir(`http://127.0.0.1:${port}/m`).readText("config.json"),
      "ERR_FETCH",
    );
  });
});
