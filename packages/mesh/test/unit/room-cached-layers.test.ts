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
