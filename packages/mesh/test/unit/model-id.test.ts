// Model ids are paths under the server's /models/ ("pipemesh-tiny/target"): accepted in create, plans and
// caps; absolute paths, empty, "." and ".." segments and other characters are refused. Other ids (rooms,
// secrets, peers) still refuse "/".
import { describe, expect, it } from "vitest";
import { decodeSignal } from "../../src/protocol/messages.ts";

const create = (id: string) => ({
  type: "create",
  v: 2,
  model: { id, layerCount: 4, layerBytes: 1, embedBytes: 0, headBytes: 0 },
});

describe("model ids", () => {
  it("accepts single ids and paths of id segments", () => {
    for (const id of ["tiny", "pipemesh-tiny/target", "org/model.v2/draft-weak"]) {
      const d = decodeSignal(create(id));
      expect(d.ok && d.msg.type === "create" ? d.msg.model.id : null, id).toBe(id);
    }
  });

  it("refuses absolute paths, empty, dot segments and odd characters", () => {
    for (const id of [
      "/abs",
      "a//b",
      "a/",
      "../x",
      "a/../b",
      "a/./b",
      "a b",
      "a\\b",
      "x".repeat(257),
    ]) {
      expect(decodeSignal(create(id)).ok, id).toBe(false);
    }
  });

  it("room and peer ids still refuse a slash", () => {
    const join = {
      type: "join",
      v: 2,
      minV: 2,
      roomId: "a/b",
      secret: "s",
      role: "stage",
      caps: {
        platform: "node",
        adapter: { description: "x", limits: {} },
        memoryBudgetBytes: 1,
        matmulGflops: 1,
        models: [{ modelId: "pipemesh-tiny/target", files: [] }],
      },
    };
    expect(decodeSignal(join).ok).toBe(false);
    expect(decodeSignal({ ...join, roomId: "ab" }).ok).toBe(true);
  });
});
