// The embedded default pair (public/models/<name>/ as public/models/default.json names it), checked in CI
// without training: every file matches the manifest's SHA-256 and size and every file is in the manifest;
// each config loads; the tokenizer round-trips text; every safetensors tensor has the shape its config
// implies (read from the raw header, independently of the loader) and the loader accepts all of them;
// target and drafts share the vocabulary.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadModelConfig } from "../../src/loader/model-files.ts";
import { loadShardWeights } from "../../src/loader/load-weights.ts";
import { openModelDir } from "../../src/node/file-source.ts";
import { loadTokenizer } from "../../src/tokenizer/text-tokenizer.ts";

const MODELS = fileURLToPath(new URL("../../../../public/models/", import.meta.url));
const pair = JSON.parse(readFileSync(join(MODELS, "default.json"), "utf8")) as {
  name: string;
  target: string;
  draft: string;
  draftWeak?: string;
};
const ROOT = join(MODELS, pair.name);
const FOLDERS = [
  pair.target,
  pair.draft,
  ...(pair.draftWeak === undefined ? [] : [pair.draftWeak]),
];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** name -> shape, from the safetensors header (8-byte little-endian length, then JSON). */
function headerShapes(file: string): Map<string, number[]> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { shape: number[] }
  >;
  return new Map(
    Object.entries(header)
      .filter(([k]) => k !== "__metadata__")
      .map(([k, v]) => [k, v.shape]),
  );
}

interface HfConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size: number;
  tie_word_embeddings?: boolean;
}

function expectedShapes(c: HfConfig): Map<string, number[]> {
  const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const kv = c.num_key_value_heads ?? c.num_attention_heads;
  const h = c.hidden_size;
  const m = new Map<string, number[]>([
    ["model.embed_tokens.weight", [c.vocab_size, h]],
    ["model.norm.weight", [h]],
  ]);
  if (c.tie_word_embeddings !== true) m.set("lm_head.weight", [c.vocab_size, h]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [h]);
    m.set(`${p}post_attention_layernorm.weight`, [h]);
    m.set(`${p}self_attn.q_proj.weight`, [c.num_attention_heads * hd, h]);
    m.set(`${p}self_attn.k_proj.weight`, [kv * hd, h]);
    m.set(`${p}self_attn.v_proj.weight`, [kv * hd, h]);
    m.set(`${p}self_attn.o_proj.weight`, [h, c.num_attention_heads * hd]);
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediate_size, h]);
    m.set(`${p}mlp.up_proj.weight`, [c.intermediate_size, h]);
    m.set(`${p}mlp.down_proj.weight`, [h, c.intermediate_size]);
  }
  return m;
}

describe(`the embedded default pair (${pair.name})`, () => {
  it("every file matches the manifest, and every file is in it", () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8")) as Record<
      string,
      { sha256: string; size: number }
    >;
    const onDisk = filesUnder(ROOT)
      .map((f) => relative(ROOT, f))
      .filter((f) => f !== "manifest.json")
      .sort();
    expect(Object.keys(manifest).sort()).toEqual(onDisk);
    for (const [file, entry] of Object.entries(manifest)) {
      const path = join(ROOT, file);
      expect(statSync(path).size, file).toBe(entry.size);
      expect(createHash("sha256").update(readFileSync(path)).digest("hex"), file).toBe(
        entry.sha256,
      );
    }
  });

  for (const folder of FOLDERS) {
    it(`${folder}: config loads, tensors have the config's shapes, the loader takes them all`, async () => {
      const dir = openModelDir(join(MODELS, folder));
      const config = await loadModelConfig(dir);
      const raw = JSON.parse(readFileSync(join(MODELS, folder, "config.json"), "utf8")) as HfConfig;
      expect(config.numLayers).toBe(raw.num_hidden_layers);
      const shapes = headerShapes(join(MODELS, folder, "model.safetensors"));
      expect(shapes).toEqual(expectedShapes(raw));
      const weights = await loadShardWeights(dir, config, {
        layerStart: 0,
        layerEnd: config.numLayers,
        embeds: true,
        tail: true,
      });
      expect(weights.layers).toHaveLength(config.numLayers);
    });
  }

  it("the tokenizer round-trips text, and target and drafts share it", async () => {
    const tok = await loadTokenizer(openModelDir(join(MODELS, pair.target)));
    for (const text of [
      "Once upon a time, there was a whale.",
      "And God said unto Moses: “Let there be light!” — 1776, 3.14…",
      "  two  spaces\nand a newline\tand a tab",
    ]) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(ids.length).toBeGreaterThan(0);
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
    }
    const targetJson = readFileSync(join(MODELS, pair.target, "tokenizer.json"), "utf8");
    for (const folder of FOLDERS.slice(1)) {
      expect(readFileSync(join(MODELS, folder, "tokenizer.json"), "utf8")).toBe(targetJson);
    }
  });
});
