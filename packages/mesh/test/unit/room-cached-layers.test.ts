// The room's planner gives a returning peer the layers it holds in its cache: peers announcing a cached
// range of the room's model go first, ordered by it, and keep join order otherwise; ranges cached for
// another model do not count.

import { describe, expect, it } from "vitest";
import type { PeerCapabilities } from "../../src/protocol/messages.ts";
import { Room } from "../../src/room/room.ts";

const MB = 1024 * 1024;
const model = { id: "m.gguf", layerCount: 8, layerBytes: MB, embedBytes: MB, headBytes: MB };

function caps(layers?: [number, number], modelId = "m.gguf"): PeerCapabilities {
  return {
    platform: "node",
    adapter: { description: "test", limits: {} },
    memoryBudgetBytes: 1024 * MB,
    matmulGflops: 1,
    models:
      layers === undefined
        ? []
        : [{ modelId, files: [], layers: { layerStart: layers[0], layerEnd: layers[1] } }],
  };
}

function stages(room: Room): string {
  return (room.plan?.stages ?? [])
    .map((s) => `${s.peerId}:${s.layerStart}-${s.layerEnd}`)
    .join(" ");
}

describe("Room plans with cached layers", () => {
  it("a peer that held layers 4-8 gets them back though it joined first", () => {
    const room = new Room("r", "s", model);
    room.join("back", "stage", caps([4, 8]));
    room.join("front", "stage", caps([0, 4]));
    expect(stages(room)).toBe("front:0-4 back:4-8");
  });

  it("without cached ranges (or with another model's) join order decides", () => {
    const room = new Room("r", "s", model);
    room.join("a", "stage", caps());
    room.join("b", "stage", caps([0, 4], "other.gguf"));
    expect(stages(room)).toBe("a:0-4 b:4-8");
  });

  it("a returning peer goes before newcomers", () => {
    const room = new Room("r", "s", model);
    room.join("new", "stage", caps());
    room.join("returning", "stage", caps([0, 4]));
    expect(stages(room)).toBe("returning:0-4 new:4-8");
  });
});

describe("Room plans a shorter context when memory is short", () => {
  // 8 layers of 1 MB weights + 4096 tokens x 256 B of K/V (1 MB) each: 2 MB a layer at the full context.
  const kvModel = {
    ...model,
    layerBytes: 2 * MB,
    contextLength: 4096,
    kvBytesPerToken: 256,
  };

  it("keeps the model's context when the budgets hold it", () => {
    const room = new Room("r", "s", kvModel);
    room.join("a", "stage", { ...caps(), memoryBudgetBytes: 16 * MB + 2 * MB });
    expect(room.plan?.contextLength).toBe(4096);
  });

  it("halves it until the layers fit, and names it in the plan", () => {
    const room = new Room("r", "s", kvModel);
    // 12 MB for 8 layers (plus head and table, 2 MB): 1 MB weights + at most 0.25 MB of K/V a layer.
    room.join("a", "stage", { ...caps(), memoryBudgetBytes: 12 * MB });
    expect(room.plan?.contextLength).toBe(1024);
    expect(stages(room)).toBe("a:0-8");
  });

  it("is ERR_PLAN_IMPOSSIBLE when even the shortest context does not fit", () => {
    const room = new Room("r", "s", kvModel);
    room.join("a", "stage", { ...caps(), memoryBudgetBytes: 8 * MB });
    expect(room.plan).toBeNull();
    expect(room.state().planError?.code).toBe("ERR_PLAN_IMPOSSIBLE");
  });
});
