// Room secrets never appear in error messages: a malformed room URL is described without its fragment, and
// the relay's refusals never echo a secret or a create token back.
import { describe, expect, it } from "vitest";
import { parseRoomUrl } from "../../src/room/room-url.ts";
import { Relay } from "../../src/signaling/relay.ts";
import { SimClock } from "../support/sim-clock.ts";

const SECRET = "TopSecretValue123456";

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return "";
}

describe("secrets stay out of messages", () => {
  it.each([
    `http://h/rooms/abc#${SECRET}`,
    `ftp://h/room/abc#${SECRET}`,
    `not a url ${SECRET}`,
    `http://h/room/a b#${SECRET}`,
  ])("parseRoomUrl(%s) does not print the secret", (bad) => {
    const m = messageOf(() => parseRoomUrl(bad));
    expect(m).toContain("ERR_ROOM_NOT_FOUND");
    expect(m).not.toContain(SECRET);
  });

  it("relay refusals do not echo secrets or tokens", () => {
    const relay = new Relay({ clock: new SimClock(), createToken: `${SECRET}-token` });
    const texts: string[] = [];
    const s = relay.open({ send: (t) => texts.push(t), close: () => {} });
    const { roomId } = relay.createRoom({
      id: "toy",
      layerCount: 2,
      layerBytes: 1,
      embedBytes: 0,
      headBytes: 0,
    });
    const caps = {
      platform: "node",
      adapter: { description: "x", limits: {} },
      memoryBudgetBytes: 1,
      matmulGflops: 1,
      models: [],
    };
    s.receive(
      JSON.stringify({ v: 2, type: "join", minV: 2, roomId, secret: SECRET, role: "stage", caps }),
    );
    s.receive(
      JSON.stringify({
        v: 2,
        type: "create",
        token: SECRET,
        model: { id: "toy", layerCount: 1, layerBytes: 1, embedBytes: 0, headBytes: 0 },
      }),
    );
    s.receive(
      JSON.stringify({
        v: 2,
        type: "join",
        minV: 2,
        roomId,
        secret: `${SECRET}!`,
        role: "stage",
        caps,
      }),
    );
    expect(texts.length).toBe(3);
    for (const t of texts) expect(t).not.toContain(SECRET);
  });
});
