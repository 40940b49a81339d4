// Coded errors and stopping: ERR_NO_DRAFT, abort mid-generation (tokens so far, KV left consistent),
// pipeline failures (ERR_PEER_LOST / ERR_STAGE_FAILED with the tokens so far), busy and destroyed states.
import { describe, expect, it } from "vitest";
import { MeshError } from "../../../src/errors.ts";
import { resolveMode } from "../../../src/scheduler/config.ts";
import type { TokenEvent } from "../../../src/scheduler/generation-loop.ts";
import { PipeInferScheduler } from "../../../src/scheduler/scheduler.ts";
import { createHarness, referenceGreedy } from "../../support/sim-harness.ts";

const PROMPT = [3, 3, 1, 7];
const SIM = { hopMs: 5, compute: { baseMs: 6, perExtraRowMs: 1 }, stepsPerStage: 3 };

describe("modes without a draft", () => {
  it("plain by default, ERR_NO_DRAFT when speculation is asked for explicitly", () => {
    expect(resolveMode(undefined, false)).toBe("plain");
    expect(resolveMode(undefined, true)).toBe("pipeinfer");
    expect(resolveMode("plain", true)).toBe("plain");
    const h = createHarness();
    for (const mode of ["speculative", "pipeinfer"] as const) {
      expect(() => new PipeInferScheduler({ pipeline: h.sim }, { mode })).toThrow(
        expect.objectContaining({ code: "ERR_NO_DRAFT" }),
      );
    }
    expect(new PipeInferScheduler({ pipeline: h.sim }).mode).toBe("plain");
  });
});

describe("abort", () => {
  for (const mode of ["plain", "speculative", "pipeinfer"] as const) {
    it(`${mode}: an abort mid-generation resolves with the tokens so far and leaves the KV consistent`, async () => {
      const h = createHarness({
        peers: 3,
        mode,
        ...(mode === "plain" ? {} : { draft: "aligned" as const }),
        sim: SIM,
      });
      const ac = new AbortController();
      h.clock.after(400, () => ac.abort());
      const { result, events } = await h.generate({
        newTokens: PROMPT,
        maxTokens: 500,
        signal: ac.signal,
      });
      expect(result.finishReason).toBe("abort");
      expect(result.tokens.length).toBeGreaterThan(0);
      expect(result.tokens.length).toBeLessThan(500);
      expect(events.flatMap((e) => e.tokens)).toEqual(result.tokens);
      const ref = referenceGreedy(h.model, PROMPT, result.tokens.length + 10);
      expect(result.tokens).toEqual(ref.slice(0, result.tokens.length));
      // the next turn continues correctly on the same stages
      const previous = [...PROMPT, ...result.tokens];
      const next = await h.generate({ previousTokens: previous, newTokens: [2], maxTokens: 10 });
      expect(next.result.tokens).toEqual(referenceGreedy(h.model, [...previous, 2], 10));
    });
  }
});

describe("pipeline failures", () => {
  it("ERR_PEER_LOST rejects the result and the iterator with the tokens generated so far", async () => {
    const h = createHarness({ peers: 3, mode: "pipeinfer", draft: "aligned", sim: SIM });
    h.clock.after(300, () => h.sim.fail(new MeshError("ERR_PEER_LOST", "peer 2 vanished")));
    const gen = h.scheduler.generate({ newTokens: PROMPT, maxTokens: 500 });
    const events: TokenEvent[] = [];
    const iterated = (async () => {
      for await (const e of gen) events.push(e);
    })().then(
      () => null,
      (e: unknown) => e,
    );
    const err = (await h.clock.run(gen.result).catch((e: unknown) => e)) as MeshError;
    expect(await h.clock.run(iterated)).toBe(err);
    expect(err).toBeInstanceOf(MeshError);
    expect(err.code).toBe("ERR_PEER_LOST");
    const tokens = err.details?.tokens as number[];
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens).toEqual(events.flatMap((e) => e.tokens));
    expect(tokens).toEqual(referenceGreedy(h.model, PROMPT, tokens.length));
  });

  it("a stage running out of KV cells surfaces as ERR_STAGE_FAILED", async () => {
    const h = createHarness({
      peers: 2,
      mode: "pipeinfer",
      draft: "aligned",
      sim: SIM,
      kvCells: 24,
    });
    const gen = h.scheduler.generate({ newTokens: PROMPT, maxTokens: 100 });
    await expect(h.clock.run(gen.result)).rejects.toMatchObject({ code: "ERR_STAGE_FAILED" });
  });
});

describe("lifecycle", () => {
  it("one generation at a time (ERR_ROOM_BUSY), invalid requests throw, destroy is idempotent", async () => {
    const h = createHarness({ peers: 1, sim: SIM });
    const gen = h.scheduler.generate({ newTokens: PROMPT, maxTokens: 5 });
    expect(() => h.scheduler.generate({ newTokens: PROMPT, maxTokens: 5 })).toThrow(
      expect.objectContaining({ code: "ERR_ROOM_BUSY" }),
    );
    await h.clock.run(gen.result);
    expect(() => h.scheduler.generate({ newTokens: [], maxTokens: 5 })).toThrow(
      expect.objectContaining({ code: "ERR_CONTEXT_LENGTH" }),
    );
    expect(() => h.scheduler.generate({ newTokens: PROMPT, maxTokens: 0 })).toThrow(/maxTokens/);
    expect(() => h.scheduler.generate({ newTokens: PROMPT, maxTokens: 3, stop: ["x"] })).toThrow(
      /decode/,
    );
    await h.clock.run(h.scheduler.destroy());
    await h.clock.run(h.scheduler.destroy());
    expect(() => h.scheduler.generate({ newTokens: PROMPT, maxTokens: 5 })).toThrow(
      expect.objectContaining({ code: "ERR_DESTROYED" }),
    );
  });

  it("destroy aborts a running generation", async () => {
    const h = createHarness({ peers: 2, mode: "pipeinfer", draft: "aligned", sim: SIM });
    const gen = h.scheduler.generate({ newTokens: PROMPT, maxTokens: 1000 });
    h.clock.after(200, () => void h.scheduler.destroy());
    const result = await h.clock.run(gen.result);
    expect(result.finishReason).toBe("abort");
  });
});
