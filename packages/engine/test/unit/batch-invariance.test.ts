// Batch invariance on the backends the unit project runs (CPU); the suite lives in test/suites/.
import { describeBatchInvariance } from "../suites/batch-invariance.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) describeBatchInvariance(backend);
