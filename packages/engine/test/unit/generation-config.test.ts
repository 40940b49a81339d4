// generation_config.json eos ids: a number, a list, absent (file or field), and malformed input.

import { describe, expect, it } from "vitest";
import { isEngineError } from "../../src/errors.ts";
import { MemoryModelDir } from "../../src/loader/byte-source.ts";
import { loadGenerationEosIds } from "../../src/loader/generation-config.ts";

const dirWith = (text?: string): MemoryModelDir =>
  new MemoryModelDir(
    new Map(text === undefined ? [] : [["generation_config.json", new TextEncoder().encode(text)]]),
  );

describe("loadGenerationEosIds", () => {
  it("reads a number or a list", async () => {
    expect(await loadGenerationEosIds(dirWith('{"eos_token_id": 7}'))).toEqual([7]);
    expect(await loadGenerationEosIds(dirWith('{"eos_token_id": [1, 6]}'))).toEqual([1, 6]);
  });

  it("is empty without the file or the field", async () => {
    expect(await loadGenerationEosIds(dirWith())).toEqual([]);
    expect(await loadGenerationEosIds(dirWith('{"do_sample": false}'))).toEqual([]);
  });

  it("rejects malformed files with ERR_CONFIG_INVALID", async () => {
    for (const bad of ["{not json", '{"eos_token_id": ["x"]}', '{"eos_token_id": [-1]}']) {
      const e: unknown = await loadGenerationEosIds(dirWith(bad)).catch((x: unknown) => x);
      expect(isEngineError(e, "ERR_CONFIG_INVALID")).toBe(true);
    }
  });
});
