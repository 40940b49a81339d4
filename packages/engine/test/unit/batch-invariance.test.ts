// Batch invariance on the backends the unit project runs (CPU), on the primary fixture and
// on one with no dimension a multiple of 4; the suite lives in test/suites/.
import { describeBatchInvariance } from "../suites/batch-invariance.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) {
  describeBatchInvariance(backend);
  describeBatchInvariance(backend, "llama-awkward-f16");
}
