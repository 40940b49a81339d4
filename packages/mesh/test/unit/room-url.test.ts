// The shareable room URL format shared by the CLI and the web app.
import { describe, expect, it } from "vitest";
import { isMeshError } from "../../src/errors.ts";
import { parseRoomUrl, roomUrl, signalUrl } from "../../src/room/room-url.ts";

describe("room URLs", () => {
  it("round-trips and derives the signaling endpoint", () => {
    const url = roomUrl(
      "http://127.0.0.1:8787/anything?x=1",
      "abcDEF2345",
      "s3cr3tS3cr3tS3cr3tS3cr",
    );
    expect(url).toBe("http://127.0.0.1:8787/room/abcDEF2345#s3cr3tS3cr3tS3cr3tS3cr");
    expect(parseRoomUrl(url)).toEqual({
      origin: "http://127.0.0.1:8787",
      signalUrl: "ws://127.0.0.1:8787/signal",
      roomId: "abcDEF2345",
      secret: "s3cr3tS3cr3tS3cr3tS3cr",
    });
    expect(signalUrl("https://mesh.example.org")).toBe("wss://mesh.example.org/signal");
  });

  it.each([
    "nonsense",
    "http://h/room/#s",
    "http://h/room/abc",
    "ftp://h/room/abc#s",
    "http://h/rooms/abc#s",
    "http://h/room/a b#s",
  ])("refuses %s", (bad) => {
    let err: unknown = null;
    try {
      parseRoomUrl(bad);
    } catch (e) {
      err = e;
    }
    expect(isMeshError(err, "ERR_ROOM_NOT_FOUND")).toBe(true);
  });
});
