// ModelConfig from GGUF metadata (llama with GQA and key_length, qwen2 biases, tied/untied heads, linear
// and rope_freqs scaling, unsupported values), and the tensor names and dims of the engine's slots.

import { describe, expect, it } from "vitest";
import { parseModelConfig } from "../../../src/config.ts";
import { MemorySource } from "../../../src/loader/byte-source.ts";
import { ggufModelConfig } from "../../../src/loader/gguf/gguf-config.ts";
import { type GgufHeader, readGgufHeader } from "../../../src/loader/gguf/gguf-header.ts";
import {
  checkGgufTensorDims,
  ggufExpectedDims,
  ggufTensorName,
} from "../../../src/loader/gguf/gguf-tensors.ts";
import {
  f32Bytes,
  gv,
  type GgufWriteTensor,
  type TypedValue,
  writeGguf,
} from "../../support/gguf-writer.ts";

function tensor(name: string, dims: number[]): GgufWriteTensor {
  const n = dims.reduce((a, d) => a * d, 1);
  return { name, dims, ggmlType: 0, data: f32Bytes(new Array<number>(n).fill(0)) };
}

function header(
  meta: [string, TypedValue][],
  tensors: GgufWriteTensor[] = [],
): Promise<GgufHeader> {
  return readGgufHeader(new MemorySource(writeGguf({ metadata: meta, tensors }), "m.gguf"));
}

async function cfg(
  meta: [string, TypedValue][],
  tensors: GgufWriteTensor[] = [],
): Promise<unknown> {
  return ggufModelConfig(await header(meta, tensors));
}

const LLAMA_GQA: [string, TypedValue][] = [
  ["general.architecture", gv.str("llama")],
  ["general.file_type", gv.u32(15)],
  ["llama.context_length", gv.u32(4096)],
  ["llama.embedding_length", gv.u32(64)],
  ["llama.block_count", gv.u32(2)],
  ["llama.feed_forward_length", gv.u32(96)],
  ["llama.attention.head_count", gv.u32(4)],
  ["llama.attention.head_count_kv", gv.u32(2)],
  ["llama.attention.key_length", gv.u32(32)],
  ["llama.attention.value_length", gv.u32(32)],
  ["llama.rope.dimension_count", gv.u32(32)],
  ["llama.attention.layer_norm_rms_epsilon", gv.f32(1e-5)],
  ["llama.rope.freq_base", gv.f32(500000)],
  ["tokenizer.ggml.tokens", gv.arr("string", ["a", "b", "c", "d", "e"])],
  ["tokenizer.ggml.bos_token_id", gv.u32(1)],
  ["tokenizer.ggml.eos_token_id", gv.u32(2)],
  ["tokenizer.ggml.eot_token_id", gv.u32(4)],
];

describe("ggufModelConfig", () => {
  it("llama with GQA and key_length", async () => {
    const h = await header(LLAMA_GQA, [tensor("output.weight", [64, 5])]);
    const c = ggufModelConfig(h);
    expect(c).toMatchObject({
      family: "llama",
      architecture: "LlamaForCausalLM",
      hiddenSize: 64,
      intermediateSize: 96,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 32,
      qDim: 128,
      kvDim: 64,
      group: 2,
      vocabSize: 5,
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      bosTokenId: 1,
      eosTokenIds: [2, 4],
      maxPositions: 4096,
    });
    expect(c.rmsNormEps).toBeCloseTo(1e-5, 12);
    expect(c.rope.theta).toBe(500000);
    expect(c.rope.kind).toBe("default");
    // The same as a config.json would give.
    const hf = parseModelConfig({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 32,
      vocab_size: 5,
      rope_theta: 500000,
    });
    expect(Array.from(c.rope.invFreq)).toEqual(Array.from(hf.rope.invFreq));
  });

  it("defaults: KV heads = heads, head_dim = hidden/heads, theta 10000; vocab_size key wins; tied", async () => {
    const dropped = ["head_count_kv", "key_length", "value_length", "freq_base", "dimension_count"];
    const meta = LLAMA_GQA.filter(([k]) => !dropped.some((d) => k.endsWith(d)));
    meta.push(["llama.vocab_size", gv.u32(7)]);
    const c = ggufModelConfig(await header(meta));
    expect(c).toMatchObject({ numKvHeads: 4, headDim: 16, vocabSize: 7, tieWordEmbeddings: true });
    expect(c.rope.theta).toBe(10000);
  });

  it("qwen2: biases, unpermuted config", async () => {
    const meta: [string, TypedValue][] = [
      ["general.architecture", gv.str("qwen2")],
      ["qwen2.context_length", gv.u32(32768)],
      ["qwen2.embedding_length", gv.u32(32)],
      ["qwen2.block_count", gv.u32(1)],
      ["qwen2.feed_forward_length", gv.u32(48)],
      ["qwen2.attention.head_count", gv.u32(4)],
      ["qwen2.attention.head_count_kv", gv.u32(2)],
      ["qwen2.attention.layer_norm_rms_epsilon", gv.f32(1e-6)],
      ["qwen2.rope.freq_base", gv.f32(1000000)],
      ["tokenizer.ggml.tokens", gv.arr("string", ["x", "y"])],
      ["tokenizer.ggml.eos_token_id", gv.u32(1)],
    ];
    const c = ggufModelConfig(await header(meta, [tensor("blk.0.attn_q.bias", [32])]));
    expect(c).toMatchObject({
      family: "qwen2",
      architecture: "Qwen2ForCausalLM",
      qkvBias: true,
      oBias: false,
      tieWordEmbeddings: true,
      eosTokenIds: [1],
      bosTokenId: undefined,
    });
  });

  it("llama attention_bias and mlp_bias from the tensors present", async () => {
    const c = ggufModelConfig(
      await header(LLAMA_GQA, [
        tensor("blk.0.attn_q.bias", [128]),
        tensor("blk.0.ffn_gate.bias", [96]),
      ]),
    );
    expect(c).toMatchObject({ qkvBias: true, oBias: true, mlpBias: true });
  });

  it("rope_freqs: inverse frequency i = base^(-2i/n_rot) / factor[i], in float64", async () => {
    const factors = Float32Array.from({ length: 16 }, (_, i) => (i < 8 ? 1 : 8));
    const h = await header(LLAMA_GQA, [tensor("rope_freqs.weight", [16])]);
    expect(() => ggufModelConfig(h)).toThrow(/ERR_INTERNAL.*rope_freqs/);
    const c = ggufModelConfig(h, factors);
    expect(c.rope.kind).toBe("llama3");
    for (let i = 0; i < 16; i++) {
      expect(c.rope.invFreq[i]).toBe(1 / Math.pow(500000, (2 * i) / 32) / (factors[i] ?? 0));
    }
    expect(() => ggufModelConfig(h, new Float32Array(3))).toThrow(/ERR_WEIGHTS_SHAPE/);
    expect(() => ggufModelConfig(h, new Float32Array(16))).toThrow(/ERR_CONFIG_INVALID/);
  });

  it("linear scaling divides every frequency; other kinds are unsupported, naming the key", async () => {
    const lin = ggufModelConfig(
      await header([
        ...LLAMA_GQA,
        ["llama.rope.scaling.type", gv.str("linear")],
        ["llama.rope.scaling.factor", gv.f32(4)],
      ]),
    );
    const plain = ggufModelConfig(await header(LLAMA_GQA));
    expect(lin.rope.invFreq[5]).toBe((plain.rope.invFreq[5] ?? 0) / 4);
    const none = ggufModelConfig(
      await header([...LLAMA_GQA, ["llama.rope.scaling.type", gv.str("none")]]),
    );
    expect(Array.from(none.rope.invFreq)).toEqual(Array.from(plain.rope.invFreq));
    const yarn = await header([...LLAMA_GQA, ["llama.rope.scaling.type", gv.str("yarn")]]);
    expect(() => ggufModelConfig(yarn)).toThrow(
      /ERR_CONFIG_UNSUPPORTED.*llama\.rope\.scaling\.type.*yarn/,
    );
  });

  it("unknown architectures and bad values are coded errors naming them", async () => {
    const phi = await header([["general.architecture", gv.str("phi3")]]);
    expect(() => ggufModelConfig(phi)).toThrow(/ERR_CONFIG_UNSUPPORTED.*phi3/);
    await expect(cfg([])).rejects.toThrow(/ERR_CONFIG_INVALID.*general\.architecture/);
    const noHidden = LLAMA_GQA.filter(([k]) => k !== "llama.embedding_length");
    await expect(cfg(noHidden)).rejects.toThrow(/ERR_CONFIG_INVALID.*llama\.embedding_length/);
    const badType = [
      ...LLAMA_GQA.filter(([k]) => k !== "llama.block_count"),
      ["llama.block_count", gv.str("2")],
    ] as [string, TypedValue][];
    await expect(cfg(badType)).rejects.toThrow(/ERR_CONFIG_INVALID.*llama\.block_count/);
    const partial = [
      ...LLAMA_GQA.filter(([k]) => !k.includes("dimension_count")),
      ["llama.rope.dimension_count", gv.u32(16)],
    ] as [string, TypedValue][];
    await expect(cfg(partial)).rejects.toThrow(/ERR_CONFIG_UNSUPPORTED.*dimension_count/);
    const perLayer = [
      ...LLAMA_GQA.filter(([k]) => !k.includes("head_count_kv")),
      ["llama.attention.head_count_kv", gv.arr("u32", [2, 4])],
    ] as [string, TypedValue][];
    await expect(cfg(perLayer)).rejects.toThrow(/ERR_CONFIG_UNSUPPORTED.*head_count_kv/);
    const uniform = [
      ...LLAMA_GQA.filter(([k]) => !k.includes("head_count_kv")),
      ["llama.attention.head_count_kv", gv.arr("u32", [2, 2])],
    ] as [string, TypedValue][];
    expect(ggufModelConfig(await header(uniform)).numKvHeads).toBe(2);
    const badGqa = [
      ...LLAMA_GQA.filter(([k]) => !k.includes("head_count_kv")),
      ["llama.attention.head_count_kv", gv.u32(3)],
    ] as [string, TypedValue][];
    await expect(cfg(badGqa)).rejects.toThrow(/ERR_CONFIG_INVALID.*m\.gguf/);
  });
});

describe("GGUF tensor names and dims", () => {
  it("names every slot", () => {
    expect(ggufTensorName("embed")).toBe("token_embd.weight");
    expect(ggufTensorName("finalNorm")).toBe("output_norm.weight");
    expect(ggufTensorName("lmHead")).toBe("output.weight");
    expect(ggufTensorName("ropeFreqs")).toBe("rope_freqs.weight");
    const kinds = {
      inputNorm: "attn_norm.weight",
      q: "attn_q.weight",
      k: "attn_k.weight",
      v: "attn_v.weight",
      o: "attn_output.weight",
      qBias: "attn_q.bias",
      postNorm: "ffn_norm.weight",
      gate: "ffn_gate.weight",
      up: "ffn_up.weight",
      down: "ffn_down.weight",
    } as const;
    for (const [kind, name] of Object.entries(kinds)) {
      expect(ggufTensorName({ layer: 3, kind: kind as keyof typeof kinds })).toBe(`blk.3.${name}`);
    }
  });

  it("expects dims ne0 first and refuses others with ERR_WEIGHTS_SHAPE", async () => {
    const h = await header(LLAMA_GQA, [tensor("output.weight", [64, 5])]);
    const c = ggufModelConfig(h);
    expect(ggufExpectedDims(c, { layer: 0, kind: "q" })).toEqual([64, 128]);
    expect(ggufExpectedDims(c, { layer: 0, kind: "k" })).toEqual([64, 64]);
    expect(ggufExpectedDims(c, { layer: 0, kind: "o" })).toEqual([128, 64]);
    expect(ggufExpectedDims(c, { layer: 0, kind: "down" })).toEqual([96, 64]);
    expect(ggufExpectedDims(c, "embed")).toEqual([64, 5]);
    expect(ggufExpectedDims(c, "ropeFreqs")).toEqual([16]);
    const out = h.tensors.get("output.weight")!;
    expect(() => checkGgufTensorDims(h.location, out, c, "lmHead")).not.toThrow();
    expect(() => checkGgufTensorDims(h.location, out, c, { layer: 0, kind: "q" })).toThrow(
      /ERR_WEIGHTS_SHAPE.*output\.weight.*\[64, 5\].*\[64, 128\]/,
    );
  });
});
