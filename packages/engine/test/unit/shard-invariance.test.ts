// Shard invariance with every shard in its own worker_thread (and in process) on the backends the unit
// project runs (CPU); the suite lives in test/suites/.
import { describeShardInvariance } from "../suites/shard-invariance.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) {
  describeShardInvariance(backend, "mistral-sharded-bf16", "workers");
  describeShardInvariance(backend, "llama-chat-f32", "in-process");
}
