// Abort semantics on the backends the unit project runs (CPU); the suite lives in test/suites/.
import { describeAbort } from "../suites/abort.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) describeAbort(backend);
