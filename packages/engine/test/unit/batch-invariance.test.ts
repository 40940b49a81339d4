// Batch invariance on the backends the unit project runs (CPU), on the primary fixture, on one with no
// dimension a multiple of 4, and on the GGUF fixtures, which between them store matrices in every tensor
// type (f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k); the suite lives in test/suites/.
import { describeBatchInvariance } from "../suites/batch-invariance.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) {
  describeBatchInvariance(backend);
  describeBatchInvariance(backend, "llama-awkward-f16");
  describeBatchInvariance(backend, "llama-q4km-mix");
  describeBatchInvariance(backend, "llama-legacy-mix");
  describeBatchInvariance(backend, "qwen2-bias-bf16");
}
