// HTTP Range parsing for the static server (models are fetched by byte range).
import { describe, expect, it } from "vitest";
import { parseRange } from "../../src/node/static-server.ts";

describe("parseRange", () => {
  it.each<[string | undefined, number, ReturnType<typeof parseRange>]>([
    [undefined, 100, null],
    ["bytes=0-9", 100, { start: 0, end: 9 }],
    ["bytes=90-", 100, { start: 90, end: 99 }],
    ["bytes=90-500", 100, { start: 90, end: 99 }],
    ["bytes=-10", 100, { start: 90, end: 99 }],
    ["bytes=-500", 100, { start: 0, end: 99 }],
    ["bytes=100-", 100, "invalid"],
    ["bytes=9-3", 100, "invalid"],
    ["bytes=-0", 100, "invalid"],
    ["bytes=-", 100, "invalid"],
    ["bytes=0-1,5-6", 100, "invalid"],
    ["items=0-1", 100, "invalid"],
  ])("%s of %i bytes", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});
