// Test access to the ONNX draft fixtures made by scripts/ref/make-onnx-fixtures.py (test/fixtures/onnx/):
// their directories, expected.json, and a wasm DraftSession straight from the fixture's bytes. Checks
// fixtureVersion and names the script to re-run on a mismatch. Test-only.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createOrtSession } from "../../src/draft/ort-runtime.ts";
import type { OrtSession } from "../../src/draft/ort-session.ts";
import { FIXTURES_DIR } from "../fixtures/fixtures.ts";

export const ONNX_FIXTURE_VERSION = 1;
export const ONNX_DRAFT_DIR = join(FIXTURES_DIR, "onnx", "llama-chat-draft");
export const ONNX_NO_KV_DIR = join(FIXTURES_DIR, "onnx", "no-kv");
/** The target the draft fixture was made for (same vocabulary and tokenizer). */
export const ONNX_DRAFT_TARGET = "llama-chat-f32";

export interface OnnxExpectedCase {
  prompt_ids: number[];
  next_id_torch: number;
  next_id_onnx: number;
  top5_ids: number[];
  top1_margin: number;
  greedy_8_onnx_kv_cache: number[];
  greedy_8_torch: number[];
  greedy_8_min_margin: number;
}

export interface OnnxExpected {
  fixtureVersion: number;
  generator: string;
  cases: OnnxExpectedCase[];
}

export function loadOnnxExpected(dir: string = ONNX_DRAFT_DIR): OnnxExpected {
  const e = JSON.parse(readFileSync(join(dir, "onnx", "expected.json"), "utf8")) as OnnxExpected;
  if (e.fixtureVersion !== ONNX_FIXTURE_VERSION) {
    throw new Error(
      `${dir}/onnx/expected.json has fixtureVersion ${e.fixtureVersion}, the tests expect ` +
        `${ONNX_FIXTURE_VERSION}: re-run packages/engine/scripts/ref/make-onnx-fixtures.py`,
    );
  }
  return e;
}

/** A wasm session on the draft fixture's ONNX model. */
export function draftFixtureSession(): Promise<OrtSession> {
  const config = JSON.parse(readFileSync(join(ONNX_DRAFT_DIR, "config.json"), "utf8")) as {
    vocab_size: number;
  };
  return createOrtSession(
    {
      model: readFileSync(join(ONNX_DRAFT_DIR, "onnx", "model.onnx")),
      location: ONNX_DRAFT_DIR,
      vocabSize: config.vocab_size,
    },
    "wasm",
  );
}
