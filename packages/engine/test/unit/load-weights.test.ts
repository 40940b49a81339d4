// Weight loading: a shard reads only its own tensors' bytes (counted through a wrapped ModelDir), in
// sharded and single-file checkpoints, tied heads reuse the embedding table, BF16/F16 convert exactly,
// and malformed, truncated or incomplete files fail with coded errors before any tensor data is read.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseModelConfig } from "../../src/config.ts";
import { isEngineError } from "../../src/errors.ts";
import { MemoryModelDir, type ModelDir } from "../../src/loader/byte-source.ts";
import {
  loadShardWeights,
  shardTensorList,
  type LoadProgress,
} from "../../src/loader/load-weights.ts";
import { readSafetensorsHeader, toFloat32 } from "../../src/loader/safetensors.ts";
import { splitLayers } from "../../src/model/shard-spec.ts";
import { FileModelDir } from "../../src/node/file-source.ts";
import { modelFixtureDir, type ModelFixture } from "../fixtures/fixtures.ts";
import {
  CountingDir,
  joinSafetensors,
  splitSafetensors,
  type RawHeader,
} from "../suites/counting-dir.ts";

function fixtureFiles(name: ModelFixture): Map<string, Uint8Array> {
  const dir = modelFixtureDir(name);
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

function configOf(files: Map<string, Uint8Array>) {
  return parseModelConfig(JSON.parse(new TextDecoder().decode(files.get("config.json"))));
}

/** Byte ranges [start, end) of the named tensors, per file, from the files' headers. */
async function tensorRanges(dir: ModelDir, files: string[], names: Set<string>) {
  const out: { file: string; start: number; end: number; name: string }[] = [];
  for (const file of files) {
    const h = await readSafetensorsHeader(dir.open(file));
    for (const t of h.tensors.values()) {
      if (names.has(t.name))
        out.push({ file, start: t.offset, end: t.offset + t.sizeBytes, name: t.name });
    }
  }
  return out;
}

function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp) {
  return expect(p).rejects.toSatisfy(
    (e) => isEngineError(e) && e.code === code && (message?.test(e.message) ?? true),
  );
}

describe("loadShardWeights reads only the shard's tensors", () => {
  const fixture = "mistral-sharded-bf16";
  const files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

  it.each([
    [0, 1],
    [1, 3],
    [2, 4],
    [0, 4],
    [3, 4],
  ])("layers [%i, %i)", async (layerStart, layerEnd) => {
    const config = configOf(fixtureFiles(fixture));
    const range = {
      layerStart,
      layerEnd,
      embeds: layerStart === 0,
      tail: layerEnd === config.numLayers,
    };
    const dir = new CountingDir(new FileModelDir(modelFixtureDir(fixture)));
    const weights = await loadShardWeights(dir, config, range);
    expect(weights.layers).toHaveLength(layerEnd - layerStart);
    expect(weights.embed !== undefined).toBe(range.embeds);
    expect(weights.lmHead !== undefined).toBe(range.tail);

    const wanted = new Set(shardTensorList(config, range).map((w) => w.name));
    const ranges = await tensorRanges(new FileModelDir(modelFixtureDir(fixture)), files, wanted);
    expect(ranges).toHaveLength(wanted.size);
    // Reads below a file's data section are its two header reads; everything else is tensor data.
    const headerBytes = new Map<string, number>();
    for (const f of files) {
      headerBytes.set(
        f,
        (await readSafetensorsHeader(new FileModelDir(modelFixtureDir(fixture)).open(f)))
          .headerBytes,
      );
    }
    const dataReads = dir.reads.filter((r) => r.offset >= headerBytes.get(r.file)!);
    const headerReads = dir.reads.filter((r) => r.offset < headerBytes.get(r.file)!);
    for (const r of headerReads)
      expect(r.offset + r.length).toBeLessThanOrEqual(headerBytes.get(r.file)!);
    // Every data read is exactly a run of wanted tensors.
    for (const r of dataReads) {
      const inside = ranges.filter(
        (t) => t.file === r.file && t.start >= r.offset && t.end <= r.offset + r.length,
      );
      expect(
        inside.reduce((a, t) => a + (t.end - t.start), 0),
        `read ${JSON.stringify(r)}`,
      ).toBe(r.length);
    }
    const tensorBytes = ranges.reduce((a, t) => a + (t.end - t.start), 0);
    expect(dataReads.reduce((a, r) => a + r.length, 0)).toBe(tensorBytes);
    // Files holding none of the shard's tensors are not even opened.
    const needed = new Set(ranges.map((t) => t.file));
    for (const f of files) expect(dir.reads.some((r) => r.file === f)).toBe(needed.has(f));
  });

  it("merges each unit's adjacent tensors into one read", async () => {
    const config = configOf(fixtureFiles(fixture));
    const dir = new CountingDir(new FileModelDir(modelFixtureDir(fixture)));
    await loadShardWeights(dir, config, splitLayers(4, 1)[0]!);
    // Units are read one after another (embeddings, each layer, head) so a backend can upload and drop
    // each: 2 files x (length prefix + header), the table, one read per layer (its tensors are adjacent),
    // and the final norm and LM head, which are not adjacent in the second file.
    expect(dir.reads.length).toBe(4 + 1 + 4 + 2);
  });

  it("reports progress up to the shard's tensor bytes", async () => {
    const config = configOf(fixtureFiles(fixture));
    const seen: LoadProgress[] = [];
    const range = { layerStart: 1, layerEnd: 3, embeds: false, tail: false };
    const dir = new CountingDir(new FileModelDir(modelFixtureDir(fixture)));
    await loadShardWeights(dir, config, range, { onProgress: (p) => seen.push(p) });
    const last = seen[seen.length - 1]!;
    expect(last.doneBytes).toBe(last.totalBytes);
    expect(last.totalBytes).toBe(2 * (48 * 48 * 2 + 24 * 48 * 2 + 3 * 48 * 96 + 2 * 48) * 2);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.doneBytes).toBeGreaterThanOrEqual(seen[i - 1]!.doneBytes);
  });

  it("uses the embedding table as the LM head when tied, reading it once", async () => {
    const files = fixtureFiles("llama-odd-heads-bf16");
    const config = configOf(files);
    expect(config.tieWordEmbeddings).toBe(true);
    const dir = new CountingDir(new MemoryModelDir(files));
    const head = await loadShardWeights(dir, config, {
      layerStart: 1,
      layerEnd: 2,
      embeds: false,
      tail: true,
    });
    expect(head.embed).toBeUndefined();
    expect(head.lmHead).toMatchObject({
      type: "bf16",
      rows: config.vocabSize,
      cols: config.hiddenSize,
    });
    expect(head.lmHead?.data.byteLength).toBe(config.vocabSize * config.hiddenSize * 2);
    const whole = await loadShardWeights(new MemoryModelDir(files), config, splitLayers(2, 1)[0]!);
    expect(whole.lmHead).toBe(whole.embed);
  });
});

describe("dtype conversion is exact", () => {
  it("F16 bit patterns", () => {
    const bits = [0x3c00, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x8000, 0xc000, 0x3555];
    const bytes = new Uint8Array(new Uint16Array(bits).buffer);
    const f = toFloat32(bytes, "F16");
    expect([...f.slice(0, 8)]).toEqual([
      1,
      2 ** -24,
      1023 * 2 ** -24,
      65504,
      Infinity,
      -Infinity,
      -0,
      -2,
    ]);
    expect(f[8]).toBe(Math.fround(0x155 / 1024 + 1) / 4);
    expect(
      Number.isNaN(toFloat32(new Uint8Array(new Uint16Array([0x7e00]).buffer), "F16")[0]),
    ).toBe(true);
  });

  it("BF16 bit patterns", () => {
    const bits = [0x3f80, 0x4049, 0xbf80, 0x0001, 0x7f80];
    const f = toFloat32(new Uint8Array(new Uint16Array(bits).buffer), "BF16");
    expect([...f]).toEqual([
      1,
      3.140625,
      -1,
      new Float32Array(new Uint32Array([0x10000]).buffer)[0],
      Infinity,
    ]);
  });

  it("F32 from an unaligned view", () => {
    const src = new Float32Array([1.5, -2.25, 3e-38]);
    const padded = new Uint8Array(13);
    padded.set(new Uint8Array(src.buffer), 1);
    expect([...toFloat32(padded.subarray(1), "F32")]).toEqual([...src]);
  });
});

describe("malformed checkpoints fail with coded errors and no tensor data read", () => {
  const name = "llama-gqa4-bias-f32";
  const base = fixtureFiles(name);
  const config = configOf(base);
  const whole = splitLayers(config.numLayers, 1)[0]!;

  function variant(
    mutate: (h: RawHeader, data: Uint8Array) => Uint8Array,
  ): Map<string, Uint8Array> {
    const { header, data } = splitSafetensors(base.get("model.safetensors")!);
    const files = new Map(base);
    files.set("model.safetensors", mutate(structuredClone(header), data));
    return files;
  }

  async function expectNoDataRead(files: Map<string, Uint8Array>, code: string, message?: RegExp) {
    const dir = new CountingDir(new MemoryModelDir(files));
    await rejectsWith(loadShardWeights(dir, config, whole), code, message);
    expect(dir.bytesRead()).toBeLessThan(20_000); // the header only (~6 KB); the tensors are ~114 KB
  }

  it("missing tensor", async () => {
    const files = variant((h, d) => {
      delete h["model.layers.1.mlp.up_proj.weight"];
      return joinSafetensors(h, d);
    });
    await expectNoDataRead(files, "ERR_WEIGHTS_MISSING", /model\.layers\.1\.mlp\.up_proj\.weight/);
  });

  it("missing bias the config asks for", async () => {
    const files = variant((h, d) => {
      delete h["model.layers.0.self_attn.o_proj.bias"];
      return joinSafetensors(h, d);
    });
    await expectNoDataRead(files, "ERR_WEIGHTS_MISSING", /o_proj\.bias/);
  });

  it("wrong shape", async () => {
    const files = variant((h, d) => {
      const t = h["model.layers.0.mlp.down_proj.weight"] as { shape: number[] };
      t.shape = [t.shape[1]!, t.shape[0]!]; // transposed: same byte size, wrong layout
      return joinSafetensors(h, d);
    });
    await expectNoDataRead(files, "ERR_WEIGHTS_SHAPE", /down_proj.*\[64, 40\].*\[40, 64\]/);
  });

  it("unsupported dtype", async () => {
    const files = variant((h, d) => {
      const t = h["model.norm.weight"] as { dtype: string; shape: number[] };
      t.dtype = "I32"; // same element size
      return joinSafetensors(h, d);
    });
    await expectNoDataRead(files, "ERR_WEIGHTS_DTYPE", /model\.norm\.weight is I32/);
  });

  it("truncated file", async () => {
    const full = base.get("model.safetensors")!;
    const files = new Map(base).set("model.safetensors", full.subarray(0, full.length - 100));
    await expectNoDataRead(files, "ERR_WEIGHTS_TRUNCATED", /tensors end at byte/);
    const tiny = new Map(base).set("model.safetensors", full.subarray(0, 5));
    await expectNoDataRead(tiny, "ERR_WEIGHTS_TRUNCATED");
  });

  it("header length beyond the file, header not JSON, offsets inconsistent with shape", async () => {
    const full = base.get("model.safetensors")!;
    const long = full.slice();
    new DataView(long.buffer).setBigUint64(0, BigInt(full.length), true);
    await expectNoDataRead(new Map(base).set("model.safetensors", long), "ERR_WEIGHTS_TRUNCATED");
    const junk = joinSafetensors("{not json", new Uint8Array(16));
    await expectNoDataRead(
      new Map(base).set("model.safetensors", junk),
      "ERR_WEIGHTS_FORMAT",
      /not JSON/,
    );
    const files = variant((h, d) => {
      const t = h["model.norm.weight"] as { data_offsets: [number, number] };
      t.data_offsets = [t.data_offsets[0], t.data_offsets[1] - 4];
      return joinSafetensors(h, d);
    });
    await expectNoDataRead(files, "ERR_WEIGHTS_FORMAT", /model\.norm\.weight: data_offsets/);
  });

  it("no weights file, a bad index, an index naming a missing file", async () => {
    const none = new Map(base);
    none.delete("model.safetensors");
    await rejectsWith(
      loadShardWeights(new MemoryModelDir(none), config, whole),
      "ERR_WEIGHTS_MISSING",
    );
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    const names = shardTensorList(config, whole).map((w) => w.name);
    const escaping = new Map(none).set(
      "model.safetensors.index.json",
      enc({ weight_map: Object.fromEntries(names.map((n) => [n, "../model.safetensors"])) }),
    );
    await rejectsWith(
      loadShardWeights(new MemoryModelDir(escaping), config, whole),
      "ERR_WEIGHTS_FORMAT",
      /bad file name/,
    );
    const dangling = new Map(none).set(
      "model.safetensors.index.json",
      enc({
        weight_map: Object.fromEntries(names.map((n) => [n, "model-00001-of-00001.safetensors"])),
      }),
    );
    await rejectsWith(loadShardWeights(new MemoryModelDir(dangling), config, whole), "ERR_FETCH");
    const partial = new Map(none).set(
      "model.safetensors.index.json",
      enc({ weight_map: { [names[0]!]: "model.safetensors" } }),
    );
    await rejectsWith(
      loadShardWeights(new MemoryModelDir(partial), config, whole),
      "ERR_WEIGHTS_MISSING",
      /not in the index/,
    );
  });

  it("a layer range outside the model", async () => {
    await rejectsWith(
      loadShardWeights(new MemoryModelDir(base), config, {
        layerStart: 1,
        layerEnd: 5,
        embeds: false,
        tail: true,
      }),
      "ERR_BATCH_INVALID",
    );
  });

  it("an aborted signal", async () => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(
      loadShardWeights(new MemoryModelDir(base), config, whole, { signal: controller.signal }),
      "ERR_ABORTED",
    );
  });
});
