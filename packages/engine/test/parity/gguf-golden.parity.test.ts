// GGUF fixtures on WebGPU (Dawn in Node; weights stay in their stored types on the GPU, read by the packed
// matmul kernels) give transformers' float64 greedy tokens, whole and split per layer (suite:
// gguf-golden.ts, the same checks the CPU unit test runs).

import { describe } from "vitest";
import { openNodeGpu } from "../support/node-gpu.ts";
import { ggufGoldenSuite } from "../suites/gguf-golden.ts";

// Fails (or skips, without REQUIRE_WEBGPU) here when no adapter exists, as the other parity files do.
const probe = await openNodeGpu("auto");
probe.ctx?.destroy();
if (probe.ctx === null) describe.skip(probe.reason, () => {});
else ggufGoldenSuite("webgpu");
