// Stop conditions (token ids and strings with OpenAI truncation and streamed hold-back) and the metric
// helpers.
import { describe, expect, it } from "vitest";
import { MetricsRecorder, percentile } from "../../../src/scheduler/metrics.ts";
import { StopMatcher } from "../../../src/scheduler/stop-matcher.ts";

// A toy detokenizer: token t is the character String.fromCharCode(97 + t) ("a" = 0).
const decode = (ts: readonly number[]): string =>
  ts.map((t) => String.fromCharCode(97 + t)).join("");
const ids = (s: string): number[] => [...s].map((c) => c.charCodeAt(0) - 97);

describe("StopMatcher", () => {
  it("a stop token id ends the generation and is not returned", () => {
    const m = new StopMatcher({ stopTokenIds: [25] });
    expect(m.push(1)).toEqual({ stop: false, keep: true, textDelta: "" });
    expect(m.stopTokenId).toBeUndefined();
    expect(m.push(25)).toMatchObject({ stop: true, keep: false });
    expect(m.tokens).toEqual([1]);
    expect(m.stopTokenId).toBe(25);
  });

  it("stop strings cut the text right before the match; streamed text never shows a partial stop", () => {
    const m = new StopMatcher({ stopStrings: ["cde"], decode });
    const deltas: string[] = [];
    let stopped = false;
    for (const t of ids("abcdcdefg")) {
      const step = m.push(t);
      deltas.push(step.textDelta);
      if (step.stop) {
        stopped = true;
        break;
      }
    }
    expect(stopped).toBe(true);
    expect(deltas.join("")).toBe("abcd");
    expect(m.text).toBe("abcd");
    expect(deltas.slice(0, 3)).toEqual(["a", "b", ""]); // "c" held back: it may start "cde"
  });

  it("releases held-back text at the end when no stop string completes", () => {
    const m = new StopMatcher({ stopStrings: ["xyz"], decode });
    const got = ids("abx")
      .map((t) => m.push(t).textDelta)
      .join("");
    expect(got).toBe("ab");
    expect(m.finish()).toBe("x");
    expect(m.text).toBe("abx");
  });
});

describe("metrics", () => {
  it("nearest-rank percentiles", () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4, 100], 0.95)).toBe(100);
  });

  it("ttft from request start, decode rate over the first..last token span, 0 gaps for joint tokens", () => {
    const m = new MetricsRecorder("pipeinfer", 100);
    m.tokenTimesMs = [300, 300, 300, 500, 700];
    m.acceptanceEvents = 3;
    m.draftTokensVerified = 8;
    m.draftTokensAccepted = 6;
    m.onOutcome(40, false);
    m.onOutcome(10, true);
    const r = m.compute(5);
    expect(r.ttftMs).toBe(200);
    expect(r.tokensPerSecond).toBeCloseTo(4 / 0.4, 10);
    expect(r.itlP50Ms).toBe(0);
    expect(r.itlP95Ms).toBe(200);
    expect(r.acceptanceRate).toBe(0.75);
    expect(r.discardedComputeFraction).toBeCloseTo(0.2, 10);
    expect(r.meanAcceptedPerRoundTrip).toBeCloseTo(5 / 3, 10);
    expect(r.elapsedMs).toBe(600);
  });
});
