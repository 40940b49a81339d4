// Loading a shard from a GGUF file: after the header, only the stage's own tensor bytes are read (counted
// at the source); units arrive one at a time (a layer is consumed before the next one's bytes are read);
// and files whose tensors are missing, mis-shaped or of a type the engine cannot hold give coded errors
// with nothing returned.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { MemorySource, type ByteSource } from "../../src/loader/byte-source.ts";
import { GgufModelDir } from "../../src/loader/gguf-model.ts";
import { readGgufHeader } from "../../src/loader/gguf/gguf-header.ts";
import { loadShardWeights, streamShardWeights } from "../../src/loader/load-weights.ts";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import {
  f32Bytes,
  gv,
  writeGguf,
  type GgufWriteTensor,
  type TypedValue,
} from "../support/gguf-writer.ts";
import { ggufFixturePath, loadGgufGolden } from "../fixtures/gguf-fixtures.ts";

interface Read {
  offset: number;
  length: number;
}

/** A source that records every read. */
function counting(bytes: Uint8Array, location: string): { source: ByteSource; reads: Read[] } {
  const inner = new MemorySource(bytes, location);
  const reads: Read[] = [];
  return {
    reads,
    source: {
      location,
      size: () => inner.size(),
      read: (offset, length, s) => {
        reads.push({ offset, length });
        return inner.read(offset, length, s);
      },
    },
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isEngineError(e), String(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  if (re !== undefined) expect((e as Error).message).toMatch(re);
}

describe("GGUF shard loading reads only the stage's tensors", () => {
  const fixture = "llama-q4km-mix";
  const bytes = new Uint8Array(readFileSync(ggufFixturePath(fixture)));
  const { tensors } = loadGgufGolden(fixture);

  it("a middle-layer stage reads its layer's tensor bytes after the header, nothing else", async () => {
    const { source, reads } = counting(bytes, `${fixture}.gguf`);
    const dir = new GgufModelDir(source);
    const config = await loadModelConfig(dir);
    const header = await dir.header();
    const headerReads = reads.length;
    const range = { layerStart: 1, layerEnd: 2, embeds: false, tail: false };
    await loadShardWeights(dir, config, range);
    const tensorReads = reads.slice(headerReads);
    // Every read lies inside one of layer 1's tensors, and together they cover each exactly once.
    const own = [...header.tensors.values()].filter((t) => t.name.startsWith("blk.1."));
    expect(own.length).toBe(Object.keys(tensors).filter((n) => n.startsWith("blk.1.")).length);
    const covered = tensorReads.reduce((a, r) => a + r.length, 0);
    expect(covered).toBe(own.reduce((a, t) => a + t.sizeBytes, 0));
    for (const r of tensorReads) {
      const inside = own.filter(
        (t) => t.offset >= r.offset && t.offset + t.sizeBytes <= r.offset + r.length,
      );
      expect(inside.reduce((a, t) => a + t.sizeBytes, 0)).toBe(r.length);
    }
  });

  it("hands each unit to the consumer before reading the next one", async () => {
    const { source, reads } = counting(bytes, `${fixture}.gguf`);
    const dir = new GgufModelDir(source);
    const config = await loadModelConfig(dir);
    const header = await dir.header();
    const start = (prefix: string): number =>
      Math.min(
        ...[...header.tensors.values()]
          .filter((t) => t.name.startsWith(prefix))
          .map((t) => t.offset),
      );
    const seen: string[] = [];
    const before = reads.length; // the header's reads
    const readSoFar = (): Read[] => reads.slice(before);
    await streamShardWeights(
      dir,
      config,
      { layerStart: 0, layerEnd: 2, embeds: true, tail: true },
      {
        embed: () => {
          seen.push("embed");
          expect(readSoFar().some((r) => r.offset >= start("blk.0."))).toBe(false);
        },
        layer: (i) => {
          seen.push(`layer ${i}`);
          // Nothing of the next layer has been read yet.
          if (i === 0) expect(readSoFar().some((r) => r.offset >= start("blk.1."))).toBe(false);
        },
        head: () => {
          seen.push("head");
        },
      },
    );
    expect(seen).toEqual(["embed", "layer 0", "layer 1", "head"]);
  });
});

/** A one-layer llama (hidden 32, ffn 64, 2 heads) with f32 tensors, minus/plus what `edit` changes. */
function tinyLlama(edit: (t: GgufWriteTensor[]) => GgufWriteTensor[] = (t) => t): Uint8Array {
  const meta: [string, TypedValue][] = [
    ["general.architecture", gv.str("llama")],
    ["llama.context_length", gv.u32(64)],
    ["llama.embedding_length", gv.u32(32)],
    ["llama.block_count", gv.u32(1)],
    ["llama.feed_forward_length", gv.u32(64)],
    ["llama.attention.head_count", gv.u32(2)],
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(1e-5)],
    [
      "tokenizer.ggml.tokens",
      gv.arr(
        "string",
        Array.from({ length: 40 }, (_, i) => `t${i}`),
      ),
    ],
  ];
  const t = (name: string, dims: number[]): GgufWriteTensor => ({
    name,
    dims,
    ggmlType: 0,
    data: f32Bytes(new Array<number>(dims.reduce((a, d) => a * d, 1)).fill(0.01)),
  });
  const tensors = [
    t("token_embd.weight", [32, 40]),
    t("blk.0.attn_norm.weight", [32]),
    t("blk.0.attn_q.weight", [32, 32]),
    t("blk.0.attn_k.weight", [32, 32]),
    t("blk.0.attn_v.weight", [32, 32]),
    t("blk.0.attn_output.weight", [32, 32]),
    t("blk.0.ffn_norm.weight", [32]),
    t("blk.0.ffn_gate.weight", [32, 64]),
    t("blk.0.ffn_up.weight", [32, 64]),
    t("blk.0.ffn_down.weight", [64, 32]),
    t("output_norm.weight", [32]),
  ];
  return writeGguf({ metadata: meta, tensors: edit(tensors) });
}

async function load(file: Uint8Array): Promise<unknown> {
  const dir = new GgufModelDir(new MemorySource(file, "tiny.gguf"));
  const config = await loadModelConfig(dir);
  return loadShardWeights(dir, config, { layerStart: 0, layerEnd: 1, embeds: true, tail: true });
}

describe("malformed GGUF models give coded errors", () => {
  it("the well-formed tiny model loads (tied head)", async () => {
    const w = (await load(tinyLlama())) as { layers: unknown[]; lmHead: unknown; embed: unknown };
    expect(w.layers).toHaveLength(1);
    expect(w.lmHead).toBe(w.embed);
  });

  it("a missing tensor is ERR_WEIGHTS_MISSING naming it", async () => {
    await rejectsWith(
      load(tinyLlama((t) => t.filter((x) => x.name !== "blk.0.ffn_up.weight"))),
      "ERR_WEIGHTS_MISSING",
      /blk\.0\.ffn_up\.weight/,
    );
  });

  it("dims that disagree with the hyper-parameters are ERR_WEIGHTS_SHAPE", async () => {
    await rejectsWith(
      load(
        tinyLlama((t) =>
          t.map((x) =>
            x.name === "blk.0.ffn_gate.weight"
              ? { ...x, dims: [32, 48], data: f32Bytes(new Array<number>(32 * 48).fill(0)) }
              : x,
          ),
        ),
      ),
      "ERR_WEIGHTS_SHAPE",
      /ffn_gate/,
    );
  });

  it("a tensor type the engine cannot hold is ERR_GGUF_TENSOR_TYPE naming the tensor and type", async () => {
    // IQ4_NL (ggml type 20): 32-element blocks of 18 bytes; [32, 64] is 64 blocks.
    await rejectsWith(
      load(
        tinyLlama((t) =>
          t.map((x) =>
            x.name === "blk.0.ffn_gate.weight"
              ? { ...x, ggmlType: 20, data: new Uint8Array(64 * 18) }
              : x,
          ),
        ),
      ),
      "ERR_GGUF_TENSOR_TYPE",
      /blk\.0\.ffn_gate\.weight.*IQ4_NL|IQ4_NL.*blk\.0\.ffn_gate\.weight/,
    );
  });

  it("a file cut inside the tensor data is ERR_WEIGHTS_TRUNCATED", async () => {
    const whole = tinyLlama();
    const header = await readGgufHeader(new MemorySource(whole, "tiny.gguf"));
    const last = [...header.tensors.values()].at(-1)!;
    const cut = whole.slice(0, last.offset + 10);
    await rejectsWith(load(cut), "ERR_WEIGHTS_TRUNCATED");
  });
});
