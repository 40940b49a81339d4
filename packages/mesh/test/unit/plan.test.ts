// Pipeline planning (pipeline/plan.ts): proportional to speed, capped by budget, contiguous, head first.
import { describe, expect, it } from "vitest";
import { isMeshError } from "../../src/errors.ts";
import { computePlan, proportionalSplit, type PlanInput } from "../../src/pipeline/plan.ts";

const MB = 1024 * 1024;
const peer = (peerId: string, speed: number, budgetMb = 1024) => ({
  peerId,
  speed,
  memoryBudgetBytes: budgetMb * MB,
});

function ranges(input: PlanInput): string {
  const { stages, idle } = computePlan(input);
  const s = stages.map((x) => `${x.peerId}:${x.layerStart}-${x.layerEnd}`).join(" ");
  return idle.length > 0 ? `${s} | idle ${idle.join(",")}` : s;
}

function planError(input: PlanInput): string {
  try {
    computePlan(input);
  } catch (e) {
    return isMeshError(e) ? e.code : String(e);
  }
  return "planned";
}

describe("computePlan", () => {
  it("splits evenly between equal peers", () => {
    expect(ranges({ layerCount: 8, layerBytes: MB, peers: [peer("a", 1), peer("b", 1)] })).toBe(
      "a:0-4 b:4-8",
    );
  });

  it("sizes ranges in proportion to measured speed", () => {
    expect(
      ranges({ layerCount: 12, layerBytes: MB, peers: [peer("a", 1), peer("b", 3), peer("c", 2)] }),
    ).toBe("a:0-2 b:2-8 c:8-12");
  });

  it("caps a peer at its budget and gives the rest to the others", () => {
    // b is 9x faster but holds only 2 layers.
    expect(ranges({ layerCount: 10, layerBytes: MB, peers: [peer("a", 1), peer("b", 9, 2)] })).toBe(
      "a:0-8 b:8-10",
    );
  });

  it("reserves the LM head on the tail", () => {
    // c would get 4 layers but its budget holds 4 MiB: with a 2 MiB LM head only 2 layers fit.
    expect(
      ranges({
        layerCount: 12,
        layerBytes: MB,
        tailExtraBytes: 2 * MB,
        peers: [peer("a", 1), peer("b", 1), peer("c", 1, 4)],
      }),
    ).toBe("a:0-5 b:5-10 c:10-12");
  });

  it("puts the head first with no layers when the stages hold the model", () => {
    expect(
      ranges({ layerCount: 4, layerBytes: MB, peers: [peer("a", 1)], head: peer("h", 5) }),
    ).toBe("h:0-0 a:0-4");
  });

  it("gives the head the first layers only when the stages cannot hold them all", () => {
    expect(
      ranges({
        layerCount: 6,
        layerBytes: MB,
        headExtraBytes: MB,
        peers: [peer("a", 1, 2)],
        head: peer("h", 1, 8),
      }),
    ).toBe("h:0-4 a:4-6");
  });

  it("runs everything on the head alone (one peer)", () => {
    expect(ranges({ layerCount: 4, layerBytes: MB, peers: [], head: peer("h", 1) })).toBe("h:0-4");
  });

  it("leaves peers idle when there are more peers than layers", () => {
    const peers = ["a", "b", "c", "d", "e", "f"].map((id) => peer(id, 1));
    expect(ranges({ layerCount: 4, layerBytes: MB, peers })).toBe(
      "a:0-1 b:1-2 c:2-3 d:3-4 | idle e,f",
    );
    // Faster peers win the scarce layers.
    expect(
      ranges({ layerCount: 2, layerBytes: MB, peers: [peer("a", 1), peer("b", 5), peer("c", 4)] }),
    ).toBe("b:0-1 c:1-2 | idle a");
  });

  it("skips a peer whose budget is too small for any layer", () => {
    expect(
      ranges({
        layerCount: 4,
        layerBytes: 10 * MB,
        peers: [peer("a", 1, 100), peer("tiny", 50, 5)],
      }),
    ).toBe("a:0-4 | idle tiny");
    expect(ranges({ layerCount: 4, layerBytes: MB, peers: [peer("a", 1), peer("slow", 0)] })).toBe(
      "a:0-4 | idle slow",
    );
  });

  it("fails with ERR_PLAN_IMPOSSIBLE when nobody can hold the model", () => {
    expect(planError({ layerCount: 4, layerBytes: MB, peers: [] })).toBe("ERR_PLAN_IMPOSSIBLE");
    expect(planError({ layerCount: 4, layerBytes: 10 * MB, peers: [peer("tiny", 1, 5)] })).toBe(
      "ERR_PLAN_IMPOSSIBLE",
    );
    expect(
      planError({ layerCount: 8, layerBytes: MB, peers: [peer("a", 1, 3), peer("b", 1, 3)] }),
    ).toBe("ERR_PLAN_IMPOSSIBLE");
    expect(
      planError({ layerCount: 8, layerBytes: MB, peers: [peer("a", 1, 2)], head: peer("h", 1, 2) }),
    ).toBe("ERR_PLAN_IMPOSSIBLE");
    expect(planError({ layerCount: 0, layerBytes: MB, peers: [peer("a", 1)] })).toBe(
      "ERR_PLAN_IMPOSSIBLE",
    );
  });

  it("always covers every layer exactly once, in order, within budgets (sweep)", () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let trial = 0; trial < 500; trial++) {
      const layerCount = 1 + rand(40);
      const peers = Array.from({ length: 1 + rand(9) }, (_, i) =>
        peer(`p${i}`, rand(10), rand(12)),
      );
      const input: PlanInput = { layerCount, layerBytes: MB, tailExtraBytes: rand(3) * MB, peers };
      let plan;
      try {
        plan = computePlan(input);
      } catch (e) {
        expect(isMeshError(e, "ERR_PLAN_IMPOSSIBLE")).toBe(true);
        continue;
      }
      let next = 0;
      plan.stages.forEach((s, i) => {
        expect(s.layerStart).toBe(next);
        expect(s.layerEnd).toBeGreaterThan(s.layerStart);
        const p = peers.find((x) => x.peerId === s.peerId)!;
        const extra = i === plan.stages.length - 1 ? (input.tailExtraBytes ?? 0) : 0;
        expect((s.layerEnd - s.layerStart) * MB + extra).toBeLessThanOrEqual(p.memoryBudgetBytes);
        next = s.layerEnd;
      });
      expect(next).toBe(layerCount);
      expect(plan.stages.length + plan.idle.length).toBe(peers.length);
    }
  });
});

describe("computePlan with per-layer sizes", () => {
  // Layers 0-3 weigh 1 MB, layers 4-7 weigh 3 MB (a quantized file mixing types per layer).
  const sizes = [1, 1, 1, 1, 3, 3, 3, 3].map((m) => m * MB);
  const mean = 2 * MB;

  it("checks each range with the real sizes of its layers", () => {
    // Equal speeds split 4 + 4; b's layers 4-7 need 12 MB, a's 0-3 need 4 MB.
    expect(
      ranges({
        layerCount: 8,
        layerBytes: mean,
        layerSizes: sizes,
        peers: [peer("a", 1, 12), peer("b", 1, 12)],
      }),
    ).toBe("a:0-4 b:4-8");
    // With 10 MB each, b cannot hold 4-7 (12 MB): a takes layer 4 too, b keeps 5-7 (9 MB).
    expect(
      ranges({
        layerCount: 8,
        layerBytes: mean,
        layerSizes: sizes,
        peers: [peer("a", 1, 10), peer("b", 1, 10)],
      }),
    ).toBe("a:0-5 b:5-8");
  });

  it("counts the tail's extra bytes on the real last range", () => {
    // b as tail must also hold 2 MB of head; a (8 MB) cannot take more than 0-5, b then needs 12 + 2.
    expect(
      planError({
        layerCount: 8,
        layerBytes: mean,
        layerSizes: sizes,
        tailExtraBytes: 2 * MB,
        peers: [peer("a", 1, 8), peer("b", 1, 10)],
      }),
    ).toBe("ERR_PLAN_IMPOSSIBLE");
    expect(
      ranges({
        layerCount: 8,
        layerBytes: mean,
        layerSizes: sizes,
        tailExtraBytes: 2 * MB,
        peers: [peer("a", 1, 10), peer("b", 1, 10)],
      }),
    ).toBe("a:0-6 b:6-8");
  });

  it("never exceeds a budget with random sizes (sweep)", () => {
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + Math.floor(rnd() * 30);
      const layerSizes = Array.from({ length: n }, () => Math.round((0.5 + 3 * rnd()) * MB));
      const total = layerSizes.reduce((a, b) => a + b, 0);
      const peers = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) =>
        peer(`p${i}`, 0.5 + rnd(), Math.round((total / MB) * (0.3 + rnd()))),
      );
      const input = { layerCount: n, layerBytes: total / n, layerSizes, peers };
      let out;
      try {
        out = computePlan(input);
      } catch (e) {
        expect(isMeshError(e) && e.code === "ERR_PLAN_IMPOSSIBLE").toBe(true);
        continue;
      }
      let next = 0;
      for (const st of out.stages) {
        expect(st.layerStart).toBe(next);
        next = st.layerEnd;
        const bytes = layerSizes.slice(st.layerStart, st.layerEnd).reduce((a, b) => a + b, 0);
        const budget = peers.find((p) => p.peerId === st.peerId)!.memoryBudgetBytes;
        expect(bytes).toBeLessThanOrEqual(budget);
      }
      expect(next).toBe(n);
    }
  });
});

describe("proportionalSplit", () => {
  it("uses largest remainders and water-fills capped slots", () => {
    expect(proportionalSplit(10, [1, 1, 1], [10, 10, 10])).toEqual([4, 3, 3]);
    expect(proportionalSplit(10, [1, 1, 1], [1, 10, 10])).toEqual([1, 5, 4]);
    expect(proportionalSplit(10, [1, 1], [3, 3])).toBeNull();
  });
});
