// The backend-parameterised suites of test/suites/ on the WebGPU backend: batch invariance and KV sequence
// semantics (on the primary fixture and on one with no dimension a multiple of 4), abort, shard invariance
// (2 and 3 shards at every boundary, in process and with one worker_thread per shard) and the drafter fuzz
// (fewer, shorter cases than the CPU's, for time): the same checks the CPU backend passes in the unit
// project, bit for bit. Shards use the process's default Dawn device (auto: a real GPU, else llvmpipe,
// else SwiftShader).

import { describe } from "vitest";
import { describeBatchInvariance } from "../suites/batch-invariance.ts";
import { describeKvSequences } from "../suites/kv-sequences.ts";
import { describeAbort } from "../suites/abort.ts";
import { describeShardInvariance } from "../suites/shard-invariance.ts";
import { describeDrafterFuzz, type DrafterFuzzCase } from "../suites/draft-fuzz.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const probe = await openNodeGpu("auto");

/** The CPU suite's cases, shortened: a roomy and a tiny (evicting) budget, GQA 5 with odd dims. */
const WEBGPU_FUZZ_CASES: readonly DrafterFuzzCase[] = [
  { fixture: "llama-chat-f32", seed: 11, steps: 120, kvCells: 40, maxSeqs: 5 },
  { fixture: "llama-awkward-f16", seed: 12, steps: 120, kvCells: 36, maxSeqs: 4, maxBatchRows: 5 },
];
probe.ctx?.destroy();

describe.skipIf(probe.ctx === null)(`WebGPU backend suites ${probe.reason}`, () => {
  describeBatchInvariance("webgpu");
  describeBatchInvariance("webgpu", "llama-awkward-f16");
  // Between them the GGUF fixtures store matrices in every tensor type the engine holds.
  describeBatchInvariance("webgpu", "llama-q4km-mix");
  describeBatchInvariance("webgpu", "llama-legacy-mix");
  describeBatchInvariance("webgpu", "qwen2-bias-bf16");
  describeKvSequences("webgpu");
  describeKvSequences("webgpu", "llama-awkward-f16");
  describeAbort("webgpu");
  // In process, shards share one device; in workers each worker_thread opens its own and compiles its
  // pipelines, so the worker case uses the 3-layer fixture (3 splits) rather than the 4-layer one (6).
  describeShardInvariance("webgpu", "mistral-sharded-bf16", "in-process");
  describeShardInvariance("webgpu", "llama-chat-f32", "workers");
  describeDrafterFuzz("webgpu", WEBGPU_FUZZ_CASES);
});
