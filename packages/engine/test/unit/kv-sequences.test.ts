// KV sequence semantics on the backends the unit project runs (CPU); the suite lives in test/suites/.
import { describeKvSequences } from "../suites/kv-sequences.ts";
import { UNIT_BACKENDS } from "../suites/backends.ts";

for (const backend of UNIT_BACKENDS) describeKvSequences(backend);
