// Least-movement repair (pipeline/repair-plan.ts) on literal plans: each preference in order (a standby
// that has the lost range loaded, an idle member that fits, one neighbour extended, both neighbours
// split), the tail's extras, the head never absorbing, real per-layer sizes, and null when nothing fits;
// and the standby assignment of idle members to stages.

import { describe, expect, it } from "vitest";
import type { LayerRange, PlanStage } from "../../src/protocol/messages.ts";
import {
  rangeBytes,
  repairPlan,
  standbyFor,
  type RepairInput,
  type RepairMember,
} from "../../src/pipeline/repair-plan.ts";

const st = (peerId: string, layerStart: number, layerEnd: number): PlanStage => ({
  peerId,
  layerStart,
  layerEnd,
});
const mem = (
  peerId: string,
  memoryBudgetBytes: number,
  speed = 1,
  loaded: LayerRange | null = null,
): RepairMember => ({ peerId, memoryBudgetBytes, speed, loaded });

/** Four stages of two 10-byte layers each, no head; the tail holds 5 bytes more. */
const FOUR = [st("a", 0, 2), st("b", 2, 4), st("c", 4, 6), st("d", 6, 8)];
const base = { layerCount: 8, layerBytes: 10, tailExtraBytes: 5, headId: null, stages: FOUR };
/** The surviving stages, each with room for exactly what it holds. */
const survivors = (lost: string): RepairMember[] =>
  FOUR.filter((s) => s.peerId !== lost).map((s) =>
    mem(s.peerId, rangeBytes(base, s.layerStart, s.layerEnd, s.layerEnd === 8)),
  );
const repair = (over: Partial<RepairInput> & { lost: string }) =>
  repairPlan({ ...base, members: survivors(over.lost), ...over });

describe("repairPlan: preferences", () => {
  it("(i) an idle member with exactly the lost range loaded takes it, before a faster one", () => {
    const out = repair({
      lost: "b",
      members: [
        ...survivors("b"),
        mem("x", 20, 1, { layerStart: 2, layerEnd: 4 }),
        mem("y", 1e6, 9),
      ],
    });
    expect(out?.kind).toBe("standby");
    expect(out?.stages).toEqual([st("a", 0, 2), st("x", 2, 4), st("c", 4, 6), st("d", 6, 8)]);
    expect(out?.idle).toEqual(["y"]);
  });

  it("(i) needs the budget: a standby for the tail must also hold the tail's extras", () => {
    const loaded = { layerStart: 6, layerEnd: 8 };
    const small = repair({ lost: "d", members: [...survivors("d"), mem("x", 20, 1, loaded)] });
    expect(small).toBeNull(); // 20 bytes of layers + 5 of LM head do not fit 20
    const enough = repair({ lost: "d", members: [...survivors("d"), mem("x", 25, 1, loaded)] });
    expect(enough?.kind).toBe("standby");
    expect(enough?.stages.at(-1)).toEqual(st("x", 6, 8));
  });

  it("(ii) otherwise the fastest idle member whose budget holds the range, in the lost stage's place", () => {
    const out = repair({
      lost: "b",
      members: [
        ...survivors("b"),
        mem("slow", 20, 1),
        mem("fast", 20, 3),
        mem("small", 19, 9),
        mem("unwilling", 1e6, 0),
      ],
    });
    expect(out?.kind).toBe("idle");
    expect(out?.stages).toEqual([st("a", 0, 2), st("fast", 2, 4), st("c", 4, 6), st("d", 6, 8)]);
    expect(out?.idle).toEqual(["slow", "small", "unwilling"]);
  });

  it("(ii) prefers the member the plan had standing by for that range (still loading it)", () => {
    const out = repair({
      lost: "b",
      members: [...survivors("b"), mem("fast", 20, 3), mem("standing", 20, 1)],
      standby: [st("standing", 2, 4)],
    });
    expect(out?.stages[1]).toEqual(st("standing", 2, 4));
  });

  it("(ii) a standby for another range still takes the lost one when its budget holds it", () => {
    const out = repair({
      lost: "c",
      members: [...survivors("c"), mem("x", 20, 1, { layerStart: 2, layerEnd: 4 })],
      standby: [st("x", 2, 4)],
    });
    expect(out?.kind).toBe("idle");
    expect(out?.stages[2]).toEqual(st("x", 4, 6));
  });

  it("(ii) counts the tail's extras when the lost stage is the tail", () => {
    const out = repair({ lost: "d", members: [...survivors("d"), mem("x", 24)] });
    expect(out).toBeNull(); // 20 bytes of layers + 5 of LM head do not fit 24
  });

  it("(iii) extends the neighbour with more budget to spare after taking the range", () => {
    const members = [mem("a", 40), mem("c", 50), mem("d", 25)];
    const out = repair({ lost: "b", members });
    expect(out?.kind).toBe("extend");
    expect(out?.stages).toEqual([st("a", 0, 2), st("c", 2, 6), st("d", 6, 8)]);
    // On a tie the previous stage extends.
    const tie = repair({ lost: "b", members: [mem("a", 40), mem("c", 40), mem("d", 25)] });
    expect(tie?.stages).toEqual([st("a", 0, 4), st("c", 4, 6), st("d", 6, 8)]);
  });

  it("(iii) the previous stage extending over the tail must hold the tail's extras", () => {
    const fits = repair({ lost: "d", members: [mem("a", 20), mem("b", 20), mem("c", 45)] });
    expect(fits?.stages).toEqual([st("a", 0, 2), st("b", 2, 4), st("c", 4, 8)]);
    const short = repair({ lost: "d", members: [mem("a", 20), mem("b", 20), mem("c", 44)] });
    expect(short).toBeNull();
  });

  it("(iv) splits the range between both neighbours at a layer boundary that fits both", () => {
    const stages = [st("a", 0, 2), st("b", 2, 5), st("c", 5, 7)];
    const out = repairPlan({
      layerCount: 7,
      layerBytes: 10,
      headId: null,
      stages,
      lost: "b",
      members: [mem("a", 30), mem("c", 40)],
    });
    expect(out?.kind).toBe("split");
    expect(out?.stages).toEqual([st("a", 0, 3), st("c", 3, 7)]);
  });

  it("(iv) picks the cut that leaves the larger smaller spare budget", () => {
    const stages = [st("a", 0, 1), st("b", 1, 5), st("c", 5, 6)];
    const out = repairPlan({
      layerCount: 6,
      layerBytes: 10,
      headId: null,
      stages,
      lost: "b",
      members: [mem("a", 40), mem("c", 40)],
    });
    // Cuts at 2, 3, 4: a holds 20/30/40, c holds 40/30/20; the middle one leaves 10 to both.
    expect(out?.stages).toEqual([st("a", 0, 3), st("c", 3, 6)]);
  });

  it("is null when nothing fits (the room then plans from scratch)", () => {
    expect(repair({ lost: "b" })).toBeNull(); // survivors are full, nobody idle
    expect(repair({ lost: "nobody" })).toBeNull();
  });
});

describe("repairPlan: the head", () => {
  // The head holds the first layers here (the stage peers could not hold them all).
  const stages = [st("h", 0, 2), st("b", 2, 4), st("c", 4, 6)];
  const input = { layerCount: 6, layerBytes: 10, headId: "h", stages };

  it("never absorbs a lost range, even with budget to spare", () => {
    const members = [mem("h", 1e9), mem("c", 20)];
    expect(repairPlan({ ...input, lost: "b", members })).toBeNull();
  });

  it("keeps its range while the next stage takes the lost one", () => {
    const out = repairPlan({ ...input, lost: "b", members: [mem("h", 1e9), mem("c", 40)] });
    expect(out?.stages).toEqual([st("h", 0, 2), st("c", 2, 6)]);
    expect(out?.idle).toEqual([]);
  });

  it("is not repaired itself", () => {
    expect(repairPlan({ ...input, lost: "h", members: [mem("b", 1e9), mem("c", 1e9)] })).toBeNull();
  });
});

describe("repairPlan: real per-layer sizes", () => {
  it("checks budgets with the sizes of the layers a member would get", () => {
    // Layers 2-4 weigh 30 + 30 = 60 bytes although the mean layer is 15.
    const sizes = [10, 10, 30, 30, 10, 10, 10, 10];
    const input = { ...base, layerBytes: 15, layerSizes: sizes, lost: "b" };
    const fits = repairPlan({ ...input, members: [...survivors("b"), mem("x", 60)] });
    expect(fits?.stages[1]).toEqual(st("x", 2, 4));
    const short = repairPlan({ ...input, members: [...survivors("b"), mem("x", 59)] });
    expect(short).toBeNull();
  });
});

describe("standbyFor", () => {
  const stages = [st("h", 0, 0), st("a", 0, 3), st("b", 3, 4)];
  const sizing = { layerCount: 4, layerBytes: 10, tailExtraBytes: 5 };
  const planned = [mem("a", 30), mem("b", 15)];

  it("gives the largest stage the fastest idle member that holds it, one standby per stage", () => {
    const out = standbyFor({
      ...sizing,
      stages,
      headId: "h",
      members: [...planned, mem("x", 30), mem("y", 100, 2), mem("z", 100, 1)],
    });
    expect(out).toEqual([st("y", 0, 3), st("x", 3, 4)]);
  });

  it("prefers a member that has the range loaded", () => {
    const out = standbyFor({
      ...sizing,
      stages,
      headId: "h",
      members: [...planned, mem("x", 30, 1, { layerStart: 0, layerEnd: 3 }), mem("y", 100, 2)],
    });
    expect(out).toEqual([st("x", 0, 3), st("y", 3, 4)]);
  });

  it("counts the tail's extras, skips members without speed, and never covers the head", () => {
    expect(
      standbyFor({
        ...sizing,
        stages,
        headId: "h",
        members: [...planned, mem("tiny", 14), mem("off", 1e9, 0)],
      }),
    ).toEqual([]);
    const headHolds = [st("h", 0, 2), st("a", 2, 4)];
    expect(
      standbyFor({
        ...sizing,
        stages: headHolds,
        headId: "h",
        members: [mem("a", 25), mem("x", 1e9)],
      }),
    ).toEqual([st("x", 2, 4)]);
  });
});
