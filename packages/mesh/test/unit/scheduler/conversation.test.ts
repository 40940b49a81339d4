// Conversations: KV kept between turns (only new tokens are prefilled), edits and truncation reuse the
// longest common prefix, reset clears, and stop conditions (EOS ids, stop strings) end a turn cleanly.
import { describe, expect, it } from "vitest";
import { PipeInferScheduler } from "../../../src/scheduler/scheduler.ts";
import { createHarness, referenceGreedy } from "../../support/sim-harness.ts";

const SIM = { hopMs: 2, compute: { baseMs: 3, perExtraRowMs: 0.5 } };
const A = [3, 1, 4, 1, 5, 9, 2, 6];

function prefillRows(h: ReturnType<typeof createHarness>, fromRunId: number): number {
  return h.sim.log
    .filter((e) => e.type === "launch" && e.run.kind === "prefill" && e.run.runId >= fromRunId)
    .reduce((n, e) => n + (e.type === "launch" ? e.run.tokens.length : 0), 0);
}

describe("conversation continuation", () => {
  for (const mode of ["plain", "pipeinfer"] as const) {
    it(`${mode}: the second turn prefills only what the stages lack and matches a fresh run`, async () => {
      const h = createHarness({
        peers: 3,
        mode,
        ...(mode === "plain" ? {} : { draft: "aligned" as const }),
        sim: SIM,
        config: { prefillChunkRows: 4 },
      });
      const t1 = await h.generate({ newTokens: A, maxTokens: 20 });
      expect(prefillRows(h, 0)).toBe(A.length);
      const lastRun = Math.max(
        ...h.sim.log.flatMap((e) => (e.type === "launch" ? [e.run.runId] : [])),
      );
      const previous = [...A, ...t1.result.tokens];
      const B = [7, 7, 2];
      const t2 = await h.generate({ previousTokens: previous, newTokens: B, maxTokens: 20 });
      expect(t2.result.tokens).toEqual(referenceGreedy(h.model, [...previous, ...B], 20));
      // the last generated token had no KV yet: it is prefilled together with the new tokens
      expect(prefillRows(h, lastRun + 1)).toBe(B.length + 1);
      expect(t2.result.metrics.reusedTokens).toBe(previous.length - 1);
    });
  }

  it("an edited history reuses the common prefix and truncates the rest", async () => {
    const h = createHarness({ peers: 2, mode: "pipeinfer", draft: "aligned", sim: SIM });
    const t1 = await h.generate({ newTokens: A, maxTokens: 10 });
    const edited = [...A.slice(0, 5), 0, 0];
    const t2 = await h.generate({ previousTokens: edited, newTokens: [1], maxTokens: 12 });
    expect(t2.result.metrics.reusedTokens).toBe(5);
    expect(t2.result.tokens).toEqual(referenceGreedy(h.model, [...edited, 1], 12));
    expect(t1.result.tokens).toHaveLength(10);
  });

  it("truncate() and reset() keep the stages' KV and the scheduler's view in step", async () => {
    const h = createHarness({ peers: 2, mode: "pipeinfer", draft: "target", sim: SIM });
    await h.generate({ newTokens: A, maxTokens: 10 });
    await h.clock.run(h.scheduler.truncate(4));
    expect(h.scheduler.contextTokens).toEqual(A.slice(0, 4));
    await h.clock.advance(100); // let the truncation reach every stage
    for (const st of h.sim.stages)
      expect(
        st.cache
          .entries()
          .map((c) => c.pos)
          .sort(),
      ).toEqual([0, 1, 2, 3]);
    const t2 = await h.generate({ newTokens: A.slice(0, 4).concat([8]), maxTokens: 8 });
    expect(t2.result.metrics.reusedTokens).toBe(4);
    expect(t2.result.tokens).toEqual(referenceGreedy(h.model, [...A.slice(0, 4), 8], 8));
    await h.clock.run(h.scheduler.reset());
    const t3 = await h.generate({ newTokens: A, maxTokens: 5 });
    expect(t3.result.metrics.reusedTokens).toBe(0);
    expect(t3.result.tokens).toEqual(referenceGreedy(h.model, A, 5));
    expect(h.drafter?.stats.resets).toBe(1);
  });
});

describe("stop conditions", () => {
  // toy detokenizer: token t -> letter 'a' + t
  const decode = (ts: readonly number[]): string =>
    ts.map((t) => String.fromCharCode(97 + t)).join("");

  it("a stop token id ends the turn and is not returned", async () => {
    const h = createHarness({ peers: 2, mode: "pipeinfer", draft: "aligned", sim: SIM });
    const ref = referenceGreedy(h.model, A, 40);
    const eos = ref[12]!;
    const cut = ref.indexOf(eos);
    const { result } = await h.generate({ newTokens: A, maxTokens: 40, stopTokenIds: [eos] });
    expect(result.finishReason).toBe("stop");
    expect(result.stopTokenId).toBe(eos);
    expect(result.tokens).toEqual(ref.slice(0, cut));
  });

  it("a stop string truncates the text before it (OpenAI semantics); streamed text never shows it", async () => {
    const h = createHarness({ peers: 2, mode: "pipeinfer", draft: "aligned", sim: SIM, decode });
    const full = decode(referenceGreedy(h.model, A, 40));
    const stop = full.slice(20, 23);
    const { result, events } = await h.generate({ newTokens: A, maxTokens: 40, stop: [stop] });
    expect(result.finishReason).toBe("stop");
    expect(result.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(events.map((e) => e.text ?? "").join("")).toBe(result.text);
    expect(decode(result.tokens).startsWith(result.text!)).toBe(true);
  });

  it("maxTokens ends with finishReason length and streamed text equals the decoded output", async () => {
    const h = createHarness({ peers: 1, mode: "speculative", draft: "aligned", sim: SIM, decode });
    const { result, events } = await h.generate({ newTokens: A, maxTokens: 15, stop: ["zzz"] });
    expect(result.finishReason).toBe("length");
    expect(events.map((e) => e.text ?? "").join("")).toBe(decode(result.tokens));
  });
});

describe("schedulers in turn on one pipeline", () => {
  it("a second scheduler never reuses the first one's run ids, and stays exact", async () => {
    const h = createHarness({ peers: 3, mode: "pipeinfer", draft: "aligned", sim: SIM });
    const t1 = await h.generate({ newTokens: A, maxTokens: 16 });
    expect(t1.result.tokens).toEqual(referenceGreedy(h.model, A, 16));
    const ids = (): number[] =>
      h.sim.log.flatMap((e) => (e.type === "launch" ? [e.run.runId] : []));
    const first = ids();
    expect(h.sim.log.some((e) => e.type === "cancel")).toBe(true); // the first left cancels behind
    const second = new PipeInferScheduler(
      { pipeline: h.sim, drafter: h.drafter, clock: h.clock },
      { mode: "pipeinfer" },
    );
    const B = [2, 7, 1, 8];
    const gen = second.generate({ newTokens: B, maxTokens: 16 });
    const result = await h.clock.run(gen.result);
    await h.clock.run(second.whenIdle());
    expect(result.tokens).toEqual(referenceGreedy(h.model, B, 16));
    const later = ids().slice(first.length);
    expect(later.length).toBeGreaterThan(0);
    expect(Math.min(...later)).toBeGreaterThan(Math.max(...first));
  });
});
