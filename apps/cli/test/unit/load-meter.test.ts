// LoadMeter: a progress line with bytes, rate and time left, at most one a second, always the last.

import { describe, expect, it } from "vitest";
import { LoadMeter } from "../../src/peer/load-meter.ts";

const MB = 1024 * 1024;

describe("LoadMeter", () => {
  it("reports bytes, rate and time left, throttled to one line a second", () => {
    let t = 0;
    const m = new LoadMeter(() => t);
    expect(m.update("x", { doneBytes: 0, totalBytes: 40 * MB })).toBe(
      "x: 0.0 of 40.0 MB, 0.0 MB/s, ? left",
    );
    t = 500;
    expect(m.update("x", { doneBytes: 5 * MB, totalBytes: 40 * MB })).toBeNull();
    t = 2000;
    // 10 MB in 2 s: 5 MB/s, 30 MB left: 6 s.
    expect(m.update("x", { doneBytes: 10 * MB, totalBytes: 40 * MB })).toBe(
      "x: 10.0 of 40.0 MB, 5.0 MB/s, 6 s left",
    );
    t = 2100;
    expect(m.update("x", { doneBytes: 40 * MB, totalBytes: 40 * MB })).toBe(
      "x: 40.0 of 40.0 MB, done in 3 s (19.0 MB/s)",
    );
  });
});
