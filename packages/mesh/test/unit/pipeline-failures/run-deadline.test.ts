// The run deadline's bound comes from measurements: the unmeasured bound before any outcome, then
// max(5 s, 3x expected) with expected = transit + max(compute per row x rows, compute per run); a one-row
// run after a slow batched prefill is not cut short, and an expired run is reported once.
import { describe, expect, it } from "vitest";
import { RunDeadline } from "../../../src/pipeline/run-deadline.ts";
import { SimClock } from "../../support/sim-clock.ts";

describe("RunDeadline", () => {
  it("derives its bound from measured runs", async () => {
    const clock = new SimClock();
    const expired: number[] = [];
    const d = new RunDeadline({ clock, onExpire: (x) => expired.push(x.runId) });
    expect(d.boundMs(64)).toBe(120_000);
    d.launched(1, 64); // a 64-row prefill computing 20 s, arriving after 20.1 s
    await clock.advance(20_100);
    d.outcome(1, 20_000);
    expect(d.expectedMs(1)).toBeCloseTo(20_100); // the whole run's compute bounds a one-row run
    expect(d.boundMs(1)).toBeCloseTo(60_300);
    for (let id = 2; id < 40; id++) {
      d.launched(id, 1); // steady one-row decoding at 100 ms compute + 20 ms transit
      await clock.advance(120);
      d.outcome(id, 100);
    }
    expect(d.expectedMs(1)).toBeLessThan(200);
    expect(d.boundMs(1)).toBe(5000);
    d.launched(40, 1);
    await clock.advance(4999);
    expect(expired).toEqual([]);
    await clock.advance(2);
    expect(expired).toEqual([40]);
    d.outcome(40, 100); // late: ignored
    await clock.advance(60_000);
    expect(expired).toEqual([40]);
  });
});
