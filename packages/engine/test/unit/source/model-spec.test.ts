// parseModelSpec: every spec form (local directory, local .gguf path or file: URL, http(s) directory or
// .gguf URL, hf:OWNER/REPO[@REVISION][/FILE.gguf]) and the malformed or unknown ones, which are
// ERR_MODEL_SOURCE naming the spec; modelSpecName gives id-safe short names.

import { describe, expect, it } from "vitest";
import { isEngineError } from "../../../src/errors.ts";
import {
  isGgufSpec,
  modelSpecName,
  parseModelSpec,
} from "../../../src/loader/source/model-spec.ts";

describe("parseModelSpec", () => {
  it.each([
    ["./models/tiny", { kind: "dir", path: "./models/tiny" }],
    ["/abs/path/SmolLM2-135M/", { kind: "dir", path: "/abs/path/SmolLM2-135M/" }],
    ["C:\\models\\tiny", { kind: "dir", path: "C:\\models\\tiny" }],
    ["models/x.Q4_K_M.gguf", { kind: "gguf-file", path: "models/x.Q4_K_M.gguf" }],
    ["/m/X.GGUF", { kind: "gguf-file", path: "/m/X.GGUF" }],
    ["file:///m/my%20model", { kind: "dir", path: "/m/my model" }],
    ["file:///m/a.gguf", { kind: "gguf-file", path: "/m/a.gguf" }],
    [
      "http://127.0.0.1:8787/models/tiny/",
      { kind: "url-dir", url: "http://127.0.0.1:8787/models/tiny/" },
    ],
    [
      "https://example.org/m/a.gguf?download=1",
      { kind: "url-gguf", url: "https://example.org/m/a.gguf?download=1" },
    ],
    [
      "hf:HuggingFaceTB/SmolLM2-135M",
      { kind: "hub", repo: "HuggingFaceTB/SmolLM2-135M", revision: undefined, file: undefined },
    ],
    ["hf:owner/repo@v1.0", { kind: "hub", repo: "owner/repo", revision: "v1.0", file: undefined }],
    [
      "hf:owner/repo@refs%2Fpr%2F3",
      { kind: "hub", repo: "owner/repo", revision: "refs/pr/3", file: undefined },
    ],
    [
      "hf:o/r-GGUF/q4/model.Q4_K_M.gguf",
      { kind: "hub", repo: "o/r-GGUF", revision: undefined, file: "q4/model.Q4_K_M.gguf" },
    ],
    [
      "HF:o/r@0123456789abcdef0123456789abcdef01234567/x.gguf",
      {
        kind: "hub",
        repo: "o/r",
        revision: "0123456789abcdef0123456789abcdef01234567",
        file: "x.gguf",
      },
    ],
    ["  hf:o/r  ", { kind: "hub", repo: "o/r" }],
  ])("%s", (spec, want) => {
    const parsed = parseModelSpec(spec);
    expect(parsed).toMatchObject(want);
    expect(isGgufSpec(parsed)).toBe(/\.gguf/i.test(spec));
  });

  it.each([
    ["", "empty"],
    ["   ", "empty"],
    ["hf:", "owner"],
    ["hf:owner", "repository name"],
    ["hf:owner/", "repository name"],
    ["hf://owner/repo", "//"],
    ["hf:ow ner/repo", "owner"],
    ["hf:o/r@", "revision"],
    ["hf:o/r@a b", "revision"],
    ["hf:o/r/model.safetensors", "not a .gguf file"],
    ["hf:o/r/../x.gguf", "file path"],
    ["hf:o/r//x.gguf", "file path"],
    ["http:/x", "//"],
    ["https://", "valid URL"],
    ["s3://bucket/model", 'unknown scheme "s3:"'],
    ["ftp://host/m.gguf", 'unknown scheme "ftp:"'],
    ["file://otherhost/m", "another host"],
  ])("%j is ERR_MODEL_SOURCE (%s)", (spec, cause) => {
    let err: unknown;
    try {
      parseModelSpec(spec);
    } catch (e) {
      err = e;
    }
    expect(isEngineError(err, "ERR_MODEL_SOURCE")).toBe(true);
    expect((err as Error).message).toContain(`"${spec}"`);
    expect((err as Error).message).toContain(cause);
  });
});

describe("modelSpecName", () => {
  it.each([
    ["./models/tiny/", "tiny"],
    ["/m/Llama 3.gguf", "Llama-3.gguf"],
    ["https://example.org/models/tiny/", "tiny"],
    ["https://example.org/m/a.gguf?x=1", "a.gguf"],
    ["hf:HuggingFaceTB/SmolLM2-135M@main", "SmolLM2-135M"],
    ["hf:o/r/q4/m.Q4_K_M.gguf", "m.Q4_K_M.gguf"],
    ["https://example.org/", "model"],
  ])("%s → %s", (spec, name) => {
    expect(modelSpecName(parseModelSpec(spec))).toBe(name);
  });
});
