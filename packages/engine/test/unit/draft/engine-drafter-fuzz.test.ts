// EngineDrafter under random call sequences on the backends the unit project runs (CPU); the suite lives in
// test/suites/draft-fuzz.ts.
import { describeDrafterFuzz } from "../../suites/draft-fuzz.ts";
import { UNIT_BACKENDS } from "../../suites/backends.ts";

for (const backend of UNIT_BACKENDS) describeDrafterFuzz(backend);
