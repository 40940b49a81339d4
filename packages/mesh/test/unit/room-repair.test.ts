// A room whose plan loses a stage repairs it with the least movement: the surviving stages keep their
// ranges (and so their loaded weights), a standby that preloaded the lost range takes it over, the head
// and the planned context stay; only when no repair fits does the room plan from scratch. Idle members
// with speed stand by for the largest stages, and a repaired plan is not undone when the head changes.

import { describe, expect, it } from "vitest";
import type { ModelInfo, PeerCapabilities, PlanStage } from "../../src/protocol/messages.ts";
import { Room } from "../../src/room/room.ts";

const MB = 1024 * 1024;
const model: ModelInfo = { id: "m", layerCount: 8, layerBytes: MB, embedBytes: MB, headBytes: 0 };

function caps(budgetMb: number, gflops = 1): PeerCapabilities {
  return {
    platform: "node",
    adapter: { description: "test", limits: {} },
    memoryBudgetBytes: budgetMb * MB,
    matmulGflops: gflops,
    models: [],
  };
}

const stages = (room: Room): string =>
  (room.plan?.stages ?? []).map((s) => `${s.peerId}:${s.layerStart}-${s.layerEnd}`).join(" ");
const standby = (room: Room): string =>
  (room.plan?.standby ?? []).map((s) => `${s.peerId}:${s.layerStart}-${s.layerEnd}`).join(" ");

/** Every stage of the plan reports its range loaded. */
function loadAll(room: Room): void {
  for (const s of room.plan?.stages ?? []) room.setLoaded(s.peerId, s);
}

/** Four stages of two layers each under an active head whose plan is ready. */
function fourStages(budgetMb = 4): Room {
  const room = new Room("r", "s", model);
  for (const p of ["a", "b", "c", "d"]) room.join(p, "stage", caps(budgetMb));
  room.join("h", "head", caps(0));
  room.request("h");
  loadAll(room);
  expect(room.ready).toBe(true);
  expect(stages(room)).toBe("h:0-0 a:0-2 b:2-4 c:4-6 d:6-8");
  return room;
}

const rangeOf = (room: Room, peerId: string): PlanStage | undefined =>
  room.plan?.stages.find((s) => s.peerId === peerId);

describe("Room repairs a plan that lost a stage", () => {
  it("4 stages, one leaves: an idle member takes its range and every survivor keeps its own", () => {
    const room = fourStages();
    room.join("e", "stage", caps(4)); // joined during the generation: idle until it ends
    const before = room.plan;
    room.leave("b");
    const after = room.plan;
    expect(room.lastRepair).toBe("idle");
    expect(stages(room)).toBe("h:0-0 a:0-2 e:2-4 c:4-6 d:6-8");
    for (const p of ["a", "c", "d"])
      expect(rangeOf(room, p)).toEqual(before?.stages.find((s) => s.peerId === p));
    expect(after?.version).toBeGreaterThan(before?.version ?? Infinity);
    expect(after?.headId).toBe("h");
    expect(after?.contextLength).toBe(before?.contextLength);
    // The survivors are still loaded; only the newcomer must load before the pipeline is ready again.
    expect(room.ready).toBe(false);
    room.setLoaded("e", { layerStart: 2, layerEnd: 4 });
    expect(room.ready).toBe(true);
  });

  it("4 stages, one leaves and nobody is idle: a neighbour extends, the others keep their ranges", () => {
    const room = fourStages(6);
    room.leave("c");
    expect(room.lastRepair).toBe("extend");
    // a, b, d keep their ranges; b (previous) and d (next) both have room, b has as much to spare.
    expect(stages(room)).toBe("h:0-0 a:0-2 b:2-6 d:6-8");
  });

  it("a standby that preloaded the lost range takes it over and the pipeline is ready at once", () => {
    // Two layers, three peers: one is surplus and stands by for the larger stage (layer 1).
    const room = new Room("r", "s", { ...model, layerCount: 2, layerSizes: [MB, 2 * MB] });
    for (const p of ["a", "b", "x"]) room.join(p, "stage", caps(4));
    room.join("h", "head", caps(0));
    room.request("h");
    expect(stages(room)).toBe("h:0-0 a:0-1 b:1-2");
    expect(standby(room)).toBe("x:1-2");
    loadAll(room);
    room.setLoaded("x", { layerStart: 1, layerEnd: 2 }); // the standby's `ready`
    expect(room.ready).toBe(true); // a standby's range does not count towards the plan's readiness
    room.leave("b");
    expect(room.lastRepair).toBe("standby");
    expect(stages(room)).toBe("h:0-0 a:0-1 x:1-2");
    expect(room.plan?.standby).toBeUndefined(); // nobody is left to stand by
    expect(room.ready).toBe(true);
  });

  it("gives a standby only a range its budget holds, the tail's LM head included", () => {
    const tailModel = { ...model, layerCount: 2, headBytes: 2 * MB };
    const room = new Room("r", "s", tailModel);
    room.join("a", "stage", caps(8));
    room.join("b", "stage", caps(8));
    room.join("x", "stage", caps(2)); // holds one layer, not one layer and the LM head
    expect(stages(room)).toBe("a:0-1 b:1-2");
    expect(standby(room)).toBe("x:0-1");
    const room2 = new Room("r", "s", tailModel);
    room2.join("a", "stage", caps(8));
    room2.join("b", "stage", caps(8));
    room2.join("x", "stage", caps(1, 0)); // no speed: never stands by
    expect(room2.plan?.standby).toBeUndefined();
  });

  it("keeps the planned (shorter) context, sizing the repair for it", () => {
    // 8 layers of 1 MB weights + 4096 tokens x 256 B of K/V (1 MB): 2 MB a layer, 1.5 MB at 2048 tokens.
    const kvModel = { ...model, layerBytes: 2 * MB, contextLength: 4096, kvBytesPerToken: 256 };
    const room = new Room("r", "s", kvModel);
    room.join("a", "stage", caps(6));
    room.join("b", "stage", caps(6));
    room.join("h", "head", caps(0));
    room.request("h");
    expect(room.plan?.contextLength).toBe(2048);
    expect(stages(room)).toBe("h:0-0 a:0-4 b:4-8");
    loadAll(room);
    room.join("c", "stage", caps(6)); // 4 layers at 2048 tokens (6 MB), not at 4096 (8 MB)
    room.leave("b");
    expect(room.lastRepair).toBe("idle");
    expect(stages(room)).toBe("h:0-0 a:0-4 c:4-8");
    expect(room.plan?.contextLength).toBe(2048);
  });

  it("never gives the lost range to the head; the full plan may, as before", () => {
    const room = new Room("r", "s", { ...model, layerCount: 4 });
    room.join("a", "stage", caps(2));
    room.join("b", "stage", caps(2));
    room.join("h", "head", caps(16));
    room.request("h");
    expect(stages(room)).toBe("h:0-0 a:0-2 b:2-4");
    room.leave("a"); // the previous stage is the head; b cannot hold four layers
    expect(room.lastRepair).toBeNull();
    expect(stages(room)).toBe("h:0-2 b:2-4"); // computePlan's fallback: the head takes the first layers
  });

  it("with no repair and no full plan, reports ERR_PLAN_IMPOSSIBLE as before", () => {
    const room = new Room("r", "s", { ...model, layerCount: 4 });
    room.join("a", "stage", caps(2));
    room.join("b", "stage", caps(2));
    room.leave("b");
    expect(room.plan).toBeNull();
    expect(room.state().planError?.code).toBe("ERR_PLAN_IMPOSSIBLE");
  });
});

describe("Room keeps a repaired plan", () => {
  it("when the head releases and the next one is granted (members unchanged)", () => {
    const room = fourStages(6);
    room.leave("c");
    const repaired = stages(room);
    expect(repaired).toBe("h:0-0 a:0-2 b:2-6 d:6-8");
    room.release("h");
    expect(stages(room)).toBe("a:0-2 b:2-6 d:6-8");
    room.join("h2", "head", caps(0));
    room.request("h2");
    expect(stages(room)).toBe("h2:0-0 a:0-2 b:2-6 d:6-8");
  });

  it("when an idle member leaves; a join plans from scratch again", () => {
    const room = fourStages(6);
    room.leave("c");
    room.release("h");
    room.join("e", "stage", caps(1, 0)); // no speed: idle (a full plan, which moves the ranges)
    expect(stages(room)).toBe("a:0-3 b:3-6 d:6-8");
    room.leave("e");
    expect(stages(room)).toBe("a:0-3 b:3-6 d:6-8");
  });

  it("when an idle member or a waiting head leaves during the generation", () => {
    // Four one-layer stages and two surplus peers standing by.
    const room = new Room("r", "s", { ...model, layerCount: 4 });
    for (const p of ["a", "b", "c", "d", "e", "f"]) room.join(p, "stage", caps(2));
    room.join("h", "head", caps(0));
    room.join("q", "head", caps(0));
    room.request("h");
    room.request("q"); // queued behind h
    expect(stages(room)).toBe("h:0-0 a:0-1 b:1-2 c:2-3 d:3-4");
    expect(standby(room)).toBe("e:0-1 f:1-2");
    loadAll(room);
    room.leave("c");
    expect(room.lastRepair).toBe("idle");
    expect(stages(room)).toBe("h:0-0 a:0-1 b:1-2 e:2-3 d:3-4"); // from scratch: d:2-3 e:3-4
    loadAll(room);
    const version = room.plan?.version;
    room.leave("f"); // idle: the running plan stays as it is until the generation ends
    room.leave("q");
    expect(room.plan?.version).toBe(version);
    room.release("h");
    expect(stages(room)).toBe("a:0-1 b:1-2 e:2-3 d:3-4");
    expect(room.plan?.idle).toEqual([]);
    expect(room.plan?.standby).toBeUndefined();
  });

  it("plans from scratch at the end of a generation that deferred a join", () => {
    const room = fourStages(6);
    room.join("e", "stage", caps(6));
    expect(room.dirty).toBe(true);
    room.release("h");
    expect(room.dirty).toBe(false);
    expect(stages(room).split(" ")).toHaveLength(5);
  });
});

describe("Room and reports", () => {
  it("accepts a report only from the active head about a stage of its plan", () => {
    const room = fourStages();
    room.join("e", "stage", caps(4));
    room.join("h2", "head", caps(0));
    expect(room.reportRefusal("h", "b")).toBeNull();
    expect(room.reportRefusal("h2", "b")).toMatch(/active head/);
    expect(room.reportRefusal("a", "b")).toMatch(/active head/);
    expect(room.reportRefusal("h", "h")).toMatch(/itself/);
    expect(room.reportRefusal("h", "e")).toMatch(/holds no stage/);
    expect(room.reportRefusal("h", "gone")).toMatch(/not in this room/);
  });
});
