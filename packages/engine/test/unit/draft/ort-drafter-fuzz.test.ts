// OrtDrafter's trie of K/V blobs under random call sequences on the exact fake session: forks, chains,
// rollbacks, aborts, failed runs, batching, chunking and eviction must all give bit-identical predictions
// to a from-scratch run. The suite lives in test/suites/ort-draft-fuzz.ts; ort-drafter.test.ts runs a
// shorter one on onnxruntime itself.
import {
  describeOrtDrafterFuzz,
  FAKE_FUZZ_CASES,
  fakeSession,
} from "../../suites/ort-draft-fuzz.ts";

describeOrtDrafterFuzz("exact fake session", fakeSession, FAKE_FUZZ_CASES, true);
