// The backend-parameterised suites of test/suites/ on the WebGPU backend: batch invariance, KV sequence
// semantics, abort, and shard invariance (2 and 3 shards at every boundary, in process and with one
// worker_thread per shard): the same checks the CPU backend passes in the unit project, bit for bit.
// Shards get their own Dawn device (auto: a real GPU, else llvmpipe, else SwiftShader).

import { describe } from "vitest";
import { describeBatchInvariance } from "../suites/batch-invariance.ts";
import { describeKvSequences } from "../suites/kv-sequences.ts";
import { describeAbort } from "../suites/abort.ts";
import { describeShardInvariance } from "../suites/shard-invariance.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const probe = await openNodeGpu("auto");
probe.ctx?.destroy();

describe.skipIf(probe.ctx === null)(`WebGPU backend suites ${probe.reason}`, () => {
  describeBatchInvariance("webgpu");
  describeKvSequences("webgpu");
  describeAbort("webgpu");
  // In process, shards share one device; in workers each worker_thread opens its own and compiles its
  // pipelines, so the worker case uses the 3-layer fixture (3 splits) rather than the 4-layer one (6).
  describeShardInvariance("webgpu", "mistral-sharded-bf16", "in-process");
  describeShardInvariance("webgpu", "llama-chat-f32", "workers");
});
