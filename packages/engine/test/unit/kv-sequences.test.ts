// KV sequence semantics on the backends the unit project runs (CPU), on the primary fixture and
// on one with no dimension a multiple of 4; the suite lives in test/suites/.
import { describeKvSequences } from "../suites/kv-sequences.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) {
  describeKvSequences(backend);
  describeKvSequences(backend, "llama-awkward-f16");
}
