// The speculation governor (pipeinfer): picks, from what it measures on this pipeline, how the head
// speculates: "async" (PipeInfer's asynchronous micro-batches), "sync" (one drafted tree verified with each
// canonical run, synchronous speculation) or "plain" (no drafts). Asynchronous speculation fills idle
// stages when hops are slow, but where stages are busy computing (peers that share processors, fast links)
// its extra runs only slow the canonical one; synchronous speculation pays where extra rows are cheap; and
// where neither pays, plain decoding wins. The governor measures decode time per token in windows of
// accepted tokens, starts with "async", keeps an optimistic estimate of plain decoding (the fastest one-row
// canonical round trip seen, minus its queueing), tries the next arm when the current one loses to that,
// settles on the fastest measured arm and re-probes the others now and then, waiting longer after each
// probe that loses. Once asynchronous speculation clearly wins (a one-sided test on the recent windows of
// each arm, not a comparison of single noisy ones) it stops probing, until a measurement says otherwise.
// It changes only what is launched, never what is accepted. Pure bookkeeping over times the caller passes in.

export type GovernorArm = "async" | "sync" | "plain";

export interface GovernorOptions {
  /** Accepted tokens per measurement window. */
  windowTokens: number;
  /**
   * Windows on the chosen arm before another is probed; each probe that loses doubles the wait (up to
   * 8x), a probe that wins resets it.
   */
  reprobeEvery: number;
  /** Another arm must be at least this much faster (ratio of ms per token) to take over. */
  margin: number;
  /** Windows each compared arm needs (of the last `sampleWindows`) before async can be declared the winner. */
  minSamples: number;
  /** Recent windows kept per arm for the test. */
  sampleWindows: number;
  /**
   * How many standard errors async's mean ms per token (times `margin`) must lie below each other arm's
   * (Welch's statistic; against plain's optimistic estimate when plain was never measured).
   */
  confidenceZ: number;
}

export const DEFAULT_GOVERNOR: GovernorOptions = {
  windowTokens: 8,
  reprobeEvery: 6,
  margin: 1.05,
  minSamples: 3,
  sampleWindows: 16,
  confidenceZ: 3,
};

export interface GovernorState {
  arm: GovernorArm;
  /** The arm it settled on (the current one, unless this is a probe). */
  settled: GovernorArm;
  /** Measured decode ms per token per arm (EWMA; null before a window on it). */
  msPerToken: Record<GovernorArm, number | null>;
  /** Optimistic plain estimate: fastest canonical one-row round trip minus its queueing. */
  plainEstimateMs: number | null;
  windows: number;
  /** Async clearly beats every other arm on the recent windows: no more probes while that holds. */
  asyncDecided: boolean;
}

const ARMS: readonly GovernorArm[] = ["async", "sync", "plain"];
const EWMA = 0.4;

export class SpeculationGovernor {
  readonly #o: GovernorOptions;
  #arm: GovernorArm = "async";
  /** The arm the governor settled on (probes return to it unless they win). */
  #best: GovernorArm = "async";
  #probing = false;
  readonly #ms: Record<GovernorArm, number | null> = { async: null, sync: null, plain: null };
  readonly #measuredAt: Record<GovernorArm, number> = { async: -1, sync: -1, plain: -1 };
  #plainEstimate: number | null = null;
  #windowStart: number | null = null;
  #windowTokens = 0;
  #windows = 0;
  #windowsOnBest = 0;
  #reprobeGap: number;
  /** Recent windows' ms per token per arm (newest last, at most sampleWindows). */
  readonly #samples: Record<GovernorArm, number[]> = { async: [], sync: [], plain: [] };
  #asyncDecided = false;

  constructor(options: Partial<GovernorOptions> = {}) {
    this.#o = { ...DEFAULT_GOVERNOR, ...options };
    if (!(this.#o.windowTokens >= 1)) throw new RangeError("windowTokens must be >= 1");
    if (!(this.#o.reprobeEvery >= 1)) throw new RangeError("reprobeEvery must be >= 1");
    if (!(this.#o.margin >= 1)) throw new RangeError("margin must be >= 1");
    if (!(this.#o.minSamples >= 2)) throw new RangeError("minSamples must be >= 2");
    if (!(this.#o.sampleWindows >= this.#o.minSamples))
      throw new RangeError("sampleWindows must be >= minSamples");
    this.#reprobeGap = this.#o.reprobeEvery;
  }

  /** How to speculate now. */
  get arm(): GovernorArm {
    return this.#arm;
  }

  get state(): GovernorState {
    return {
      arm: this.#arm,
      settled: this.#best,
      msPerToken: { ...this.#ms },
      plainEstimateMs: this.#plainEstimate,
      windows: this.#windows,
      asyncDecided: this.#asyncDecided,
    };
  }

  /** A generation starts: windows never span the prefill or the gap between generations. */
  beginGeneration(): void {
    this.#windowStart = null;
    this.#windowTokens = 0;
  }

  /** A one-row canonical run came back after rtMs, of which waitMs queued at stages. */
  observeCanonical(rtMs: number, waitMs: number): void {
    const x = Math.max(0, rtMs - Math.max(0, waitMs));
    if (!Number.isFinite(x) || x <= 0) return;
    this.#plainEstimate = this.#plainEstimate === null ? x : Math.min(this.#plainEstimate, x);
  }

  /** `count` tokens were accepted at nowMs. */
  onTokens(count: number, nowMs: number): void {
    if (count <= 0) return;
    if (this.#windowStart === null) {
      // The first event after a start or a switch anchors the window (runs launched under the old
      // arm are still landing on it).
      this.#windowStart = nowMs;
      this.#windowTokens = 0;
      return;
    }
    this.#windowTokens += count;
    if (this.#windowTokens < this.#o.windowTokens) return;
    const ms = (nowMs - this.#windowStart) / this.#windowTokens;
    this.#windowTokens = 0;
    this.#windows++;
    const a = this.#arm;
    const old = this.#ms[a];
    this.#ms[a] = old === null ? ms : EWMA * ms + (1 - EWMA) * old;
    this.#measuredAt[a] = this.#windows;
    const recent = this.#samples[a];
    recent.push(ms);
    if (recent.length > this.#o.sampleWindows) recent.shift();
    const next = this.#decide();
    if (next !== this.#arm) {
      this.#arm = next;
      this.#windowStart = null;
    } else {
      this.#windowStart = nowMs;
    }
  }

  /** Estimated ms per token of an arm: measured, or for plain the optimistic estimate. */
  #est(arm: GovernorArm): number | null {
    return this.#ms[arm] ?? (arm === "plain" ? this.#plainEstimate : null);
  }

  #fastest(): GovernorArm {
    let best: GovernorArm = this.#best;
    for (const arm of ARMS) {
      const e = this.#est(arm);
      const b = this.#est(best);
      if (e !== null && (b === null || e * this.#o.margin < b)) best = arm;
    }
    return best;
  }

  #decide(): GovernorArm {
    const cur = this.#arm;
    const plain = this.#est("plain");
    const curMs = this.#ms[cur];
    // Exploring: the current arm loses to (estimated) plain and a speculating arm is still untried.
    if (!this.#probing && cur !== "plain" && curMs !== null && plain !== null) {
      if (curMs >= plain * this.#o.margin && cur === "async" && this.#ms.sync === null) {
        this.#best = "sync";
        return "sync";
      }
    }
    this.#asyncDecided = false;
    if (this.#probing) {
      this.#probing = false;
      const winner = this.#fastest();
      if (winner === cur) this.#reprobeGap = this.#o.reprobeEvery;
      else this.#reprobeGap = Math.min(this.#reprobeGap * 2, this.#o.reprobeEvery * 8);
      this.#best = winner;
      this.#windowsOnBest = 0;
      return winner;
    }
    const winner = this.#fastest();
    if (winner !== this.#best) {
      this.#best = winner;
      this.#windowsOnBest = 0;
      return winner;
    }
    this.#windowsOnBest++;
    this.#asyncDecided = this.#best === "async" && this.#asyncClearlyWins();
    if (this.#windowsOnBest >= this.#reprobeGap && !this.#asyncDecided) {
      // Probe the arm measured longest ago (never-measured first). Plain needs no probe until measured:
      // its optimistic estimate already takes over when it would win.
      const others = ARMS.filter(
        (x) => x !== this.#best && (x !== "plain" || this.#ms.plain !== null),
      );
      others.sort((x, y) => this.#measuredAt[x] - this.#measuredAt[y]);
      const probe = others[0];
      if (probe !== undefined) {
        this.#probing = true;
        this.#windowsOnBest = 0;
        return probe;
      }
    }
    return this.#best;
  }

  /**
   * Async's recent windows beat every other arm's by the margin with confidence: for each measured arm,
   * Welch's statistic (mean_x - margin·mean_async) / se >= confidenceZ on at least minSamples windows of
   * each; plain, when never measured, by its optimistic estimate (a lower bound, so beating it is
   * conservative); an arm never measured and without an estimate (sync) leaves the question open.
   */
  #asyncClearlyWins(): boolean {
    const { minSamples, margin, confidenceZ } = this.#o;
    const a = meanVar(this.#samples.async);
    if (a.n < minSamples) return false;
    for (const arm of ["sync", "plain"] as const) {
      const x = meanVar(this.#samples[arm]);
      if (x.n === 0) {
        if (arm === "sync") return false;
        const plain = this.#plainEstimate;
        if (plain === null) return false;
        if (!beats(plain - margin * a.mean, margin * margin * (a.variance / a.n), confidenceZ))
          return false;
        continue;
      }
      if (x.n < minSamples) return false;
      const se2 = x.variance / x.n + margin * margin * (a.variance / a.n);
      if (!beats(x.mean - margin * a.mean, se2, confidenceZ)) return false;
    }
    return true;
  }
}

/** Sample mean and (unbiased) variance. */
function meanVar(xs: readonly number[]): { n: number; mean: number; variance: number } {
  const n = xs.length;
  if (n === 0) return { n, mean: 0, variance: 0 };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const variance = n < 2 ? 0 : xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

/** A positive difference `diff` with squared standard error `se2` is at least z standard errors from 0. */
function beats(diff: number, se2: number, z: number): boolean {
  return diff > 0 && diff * diff >= z * z * se2;
}
