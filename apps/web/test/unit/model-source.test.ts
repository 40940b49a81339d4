// Model resolution for rooms: the default pair by its name or by its target's path (the id the CLI's rooms
// use), any other id as /models/<id>/ without a draft, and the ModelInfo a room announces (KV included in
// layerBytes, as the CLI does).

import { afterEach, describe, expect, it, vi } from "vitest";
import { parseModelConfig } from "@pipemesh/engine";
import {
  fetchDefaultModel,
  loadTargetConfig,
  modelInfoFor,
  modelPath,
  parseDefaultModel,
  resolveModelSource,
} from "../../src/model/model-source.ts";
import { codeOf } from "../../src/errors.ts";

const BASE = "http://h/models/";
const DEFAULT = { name: "tiny", target: "tiny/target", draft: "tiny/draft" };

function serveDefault(json: unknown, status = 200): void {
  vi.stubGlobal(
    "fetch",
    vi.fn(() => Promise.resolve(new Response(JSON.stringify(json), { status }))),
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("resolveModelSource", () => {
  it("finds the default pair by name and by target path", async () => {
    serveDefault(DEFAULT);
    const want = {
      name: "tiny",
      targetUrl: "http://h/models/tiny/target/",
      draftUrl: "http://h/models/tiny/draft/",
    };
    expect(await resolveModelSource("tiny", BASE)).toEqual({ id: "tiny", ...want });
    expect(await resolveModelSource("tiny/target", BASE)).toEqual({ id: "tiny/target", ...want });
  });

  it("names the default pair by its target's path (the id rooms announce)", async () => {
    serveDefault({ ...DEFAULT, target: "./tiny/target/" });
    expect((await fetchDefaultModel(BASE)).id).toBe("tiny/target");
    expect(modelPath("a/../b")).toBeUndefined();
    expect(modelPath("/abs")).toBeUndefined();
  });

  it("any other id is a directory of its own without a draft (also without default.json)", async () => {
    serveDefault(DEFAULT);
    expect(await resolveModelSource("other", BASE)).toEqual({
      id: "other",
      name: "other",
      targetUrl: "http://h/models/other/",
      draftUrl: undefined,
    });
    serveDefault({}, 404);
    expect((await resolveModelSource("tiny", BASE)).draftUrl).toBeUndefined();
  });

  it("a malformed default.json is ERR_MODEL_LOAD", () => {
    let code = "";
    try {
      parseDefaultModel({ name: "bad name!", target: "x" });
    } catch (e) {
      code = codeOf(e);
    }
    expect(code).toBe("ERR_MODEL_LOAD");
  });
});

describe("loadTargetConfig", () => {
  it("a model whose config.json cannot be read is ERR_MODEL_LOAD", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(() => Promise.resolve(new Response("missing", { status: 404 }))),
    );
    const source = {
      id: "gone",
      name: "gone",
      targetUrl: "http://h/models/gone/",
      draftUrl: undefined,
    };
    await expect(loadTargetConfig(source)).rejects.toThrow(/^ERR_MODEL_LOAD: the model "gone"/);
  });
});

describe("modelInfoFor", () => {
  it("announces the geometry with each layer's K/V for the given cells", () => {
    const config = parseModelConfig({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      vocab_size: 100,
      hidden_size: 8,
      intermediate_size: 16,
      num_hidden_layers: 3,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: true,
    });
    const info = modelInfoFor("tiny", config, 10);
    const weights = (8 * 8 + 2 * 8 * 4 + 8 * 8 + 3 * 8 * 16 + 2 * 8) * 4;
    const kv = 2 * 4 * 4 * 10; // K and V, kvDim 4, f32, 10 cells
    expect(info).toEqual({
      id: "tiny",
      layerCount: 3,
      layerBytes: weights + kv,
      embedBytes: 100 * 8 * 4,
      headBytes: (100 * 8 + 8) * 4,
    });
  });
});
