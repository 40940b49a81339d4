// Exactness at temperature 0: every mode on 1 to 4 peers, with a well-aligned draft, a random draft and the
// target itself as draft, produces exactly the tokens of plain decoding on one peer (which itself equals
// the KV-free reference).
import { beforeAll, describe, expect, it } from "vitest";
import type { GenerationResult } from "../../../src/scheduler/scheduler.ts";
import { createHarness, referenceGreedy } from "../../support/sim-harness.ts";

const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
const TOKENS = 40;
const SIM = { hopMs: 2, compute: { baseMs: 3, perExtraRowMs: 0.5 }, stepsPerStage: 2 };

describe("exactness at temperature 0", () => {
  const base = createHarness({ peers: 1, mode: "plain", sim: SIM });
  let plainOne: GenerationResult;
  beforeAll(async () => {
    plainOne = (await base.generate({ newTokens: PROMPT, maxTokens: TOKENS })).result;
  });

  it("plain decoding on one peer equals the KV-free reference", () => {
    expect(plainOne.tokens).toEqual(referenceGreedy(base.model, PROMPT, TOKENS));
    expect(plainOne.tokens).toHaveLength(TOKENS);
  });

  for (const peers of [1, 2, 3, 4]) {
    it(`plain on ${peers} peer(s)`, async () => {
      const h = createHarness({ peers, mode: "plain", sim: SIM });
      const { result } = await h.generate({ newTokens: PROMPT, maxTokens: TOKENS });
      expect(result.tokens).toEqual(plainOne.tokens);
    });
    for (const mode of ["speculative", "pipeinfer"] as const) {
      for (const draft of ["aligned", "random", "target"] as const) {
        it(`${mode} on ${peers} peer(s) with the ${draft} draft`, async () => {
          const h = createHarness({ peers, mode, draft, sim: SIM });
          const { result } = await h.generate({ newTokens: PROMPT, maxTokens: TOKENS });
          expect(result.tokens).toEqual(plainOne.tokens);
          expect(result.finishReason).toBe("length");
          // the speculative machinery really ran (not a silent fallback to plain)
          expect(result.metrics.speculativeRunsLaunched).toBeGreaterThan(0);
          if (draft === "target")
            expect(result.metrics.draftTokensAccepted).toBeGreaterThan(TOKENS / 2);
        });
      }
    }
  }
});
