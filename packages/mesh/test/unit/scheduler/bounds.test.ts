// Bounds and costs: in-flight speculative runs and partitions stay within their caps, partitions are freed
// before reuse, KV ops per event are O(1) (independent of context length), and the metrics add up.
import { describe, expect, it } from "vitest";
import type { StageKvOp } from "../../../src/ports.ts";
import { requiredSeqIds } from "../../../src/scheduler/config.ts";
import { createHarness, type Harness } from "../../support/sim-harness.ts";

const SIM = {
  hopMs: 10,
  hopJitterMs: 2,
  compute: { baseMs: 4, perExtraRowMs: 1 },
  stepsPerStage: 4,
  seed: 3,
};

function pipeinfer(speculation: Record<string, number>, peers = 3): Harness {
  return createHarness({
    peers,
    mode: "pipeinfer",
    draft: "aligned",
    sim: SIM,
    config: { speculation },
  });
}

describe("bounds", () => {
  it("never has more live speculative runs than maxInFlightRuns, nor more partitions than maxPartitions", async () => {
    for (const [maxInFlightRuns, maxPartitions] of [
      [2, 8],
      [6, 3],
      [8, 12],
    ] as const) {
      const h = pipeinfer({ maxInFlightRuns, maxPartitions, draftBranches: 3 });
      const { result } = await h.generate({ newTokens: [1, 2, 3], maxTokens: 60 });
      expect(result.tokens).toHaveLength(60);
      const live = new Set<number>();
      const heldSeqs = new Map<number, number>(); // seq -> run holding it
      let maxLive = 0;
      for (const e of h.sim.log) {
        if (e.type === "launch" && e.run.kind === "speculative") {
          live.add(e.run.runId);
          maxLive = Math.max(maxLive, live.size);
          for (const s of new Set(e.run.seqIds.flat())) {
            if (s === 0) continue; // the canonical row of a synchronous probe (the governor's "sync")
            expect(s).toBeLessThan(requiredSeqIds({ maxPartitions, draftBranches: 3 }));
            // a partition id is freed (seq_rm) before another run uses it
            expect(heldSeqs.has(s)).toBe(false);
            heldSeqs.set(s, e.run.runId);
          }
        } else if (e.type === "cancel") e.runIds.forEach((id) => live.delete(id));
        else if (e.type === "outcome") live.delete(e.runId);
        else if (e.type === "kv" && e.op.op === "seq_rm" && e.op.seq > 0) heldSeqs.delete(e.op.seq);
      }
      expect(maxLive).toBeLessThanOrEqual(maxInFlightRuns);
      expect(maxLive).toBeGreaterThan(1);
    }
  });

  it("issues O(1) KV ops per event, whatever the context length", async () => {
    const perRun = async (
      promptLength: number,
    ): Promise<{ ops: StageKvOp[]; h: Harness; events: number }> => {
      const h = pipeinfer({}, 2);
      const prompt = Array.from({ length: promptLength }, (_, i) => (i * 7) % 16);
      const { result } = await h.generate({ newTokens: prompt, maxTokens: 50 });
      const ops = h.sim.log.flatMap((e) => (e.type === "kv" ? [e.op] : []));
      return { ops, h, events: result.metrics.acceptanceEvents };
    };
    for (const len of [4, 150]) {
      const { ops, h, events } = await perRun(len);
      const B = h.scheduler.config.speculation.draftBranches;
      const spec = h.sim.stats.launched.speculative;
      const commits = ops.filter((o) => o.op === "seq_cp" && o.dst === 0).length;
      const copies = ops.filter((o) => o.op === "seq_cp" && o.dst !== 0).length;
      const frees = ops.filter((o) => o.op === "seq_rm").length;
      expect(commits).toBeLessThanOrEqual(events); // at most one commit per acceptance
      expect(copies).toBeLessThanOrEqual(B * spec); // at most one copy per branch per chained launch
      expect(frees).toBeLessThanOrEqual(B * spec); // at most one free per branch per run
      expect(ops.length).toBeLessThanOrEqual(events + 2 * B * spec);
      expect(commits).toBeGreaterThan(0);
      expect(copies).toBeGreaterThan(0);
    }
  });

  it("plain decoding issues no KV ops at all", async () => {
    const h = createHarness({ peers: 2, mode: "plain", sim: SIM });
    await h.generate({ newTokens: [1, 2, 3], maxTokens: 20 });
    expect(h.sim.stats.kvOps).toBe(0);
  });
});

describe("metrics", () => {
  it("plain: one token per round trip, no drafts, ITL = the round trip", async () => {
    const h = createHarness({
      peers: 2,
      mode: "plain",
      sim: { hopMs: 5, compute: { baseMs: 10, perExtraRowMs: 0 } },
    });
    const { result } = await h.generate({ newTokens: [1, 2, 3], maxTokens: 10 });
    const m = result.metrics;
    expect(m.mode).toBe("plain");
    expect(m.generatedTokens).toBe(10);
    expect(m.meanAcceptedPerRoundTrip).toBe(1);
    expect(m.acceptanceRate).toBe(0);
    expect(m.runsLaunched).toBe(10); // 1 prefill + 9 canonical
    expect(m.itlP50Ms).toBeCloseTo(2 * 10 + 2 * 5, 6);
    expect(m.ttftMs).toBeCloseTo(2 * 10 + 2 * 5, 6);
    expect(m.tokensPerSecond).toBeCloseTo(1000 / 30, 6);
    expect(m.discardedComputeFraction).toBe(0);
  });

  it("pipeinfer: consistent counts, lower ITL than plain, waste is accounted", async () => {
    const h = pipeinfer({});
    const { result, events } = await h.generate({ newTokens: [1, 2, 3], maxTokens: 60 });
    const m = result.metrics;
    expect(events.flatMap((e) => e.tokens)).toEqual(result.tokens);
    expect(m.acceptanceEvents).toBe(events.length);
    expect(m.meanAcceptedPerRoundTrip).toBeCloseTo(60 / events.length, 10);
    expect(m.runsLaunched).toBe(
      h.sim.stats.launched.prefill +
        h.sim.stats.launched.canonical +
        h.sim.stats.launched.speculative,
    );
    expect(m.runsCancelled).toBe(h.sim.stats.cancelledIds);
    expect(m.acceptanceRate).toBeGreaterThan(0);
    expect(m.acceptanceRate).toBeLessThanOrEqual(1);
    expect(m.draftTokensAccepted).toBeLessThanOrEqual(m.draftTokensVerified);
    // tokens accepted together get 0 gaps, so the median gap is well under plain decoding's round trip
    const plain = createHarness({ peers: 3, mode: "plain", sim: SIM });
    const { result: p } = await plain.generate({ newTokens: [1, 2, 3], maxTokens: 60 });
    expect(m.itlP50Ms).toBeLessThan(p.metrics.itlP50Ms / 2);
    expect(m.tokensPerSecond).toBeGreaterThan(p.metrics.tokensPerSecond);
    expect(m.discardedComputeFraction).toBeGreaterThan(0);
    expect(m.discardedComputeFraction).toBeLessThan(1);
    expect(result.fromDraft.filter(Boolean).length).toBeGreaterThan(20);
  });
});
