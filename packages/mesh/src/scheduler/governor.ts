// The speculation governor (pipeinfer): decides whether speculative runs are worth launching at all on this
// pipeline, from what it measures. Speculation fills idle stages when hops are slow, but where stages are
// busy computing (peers that share processors, fast links) its extra runs only slow the canonical one, and
// plain decoding is faster. The governor measures decode time per token in windows of accepted tokens with
// speculation on, keeps an optimistic estimate of plain decoding's time per token (the fastest canonical
// one-row round trip seen, minus its queueing), turns speculation off when it loses to that, then measures
// plain directly and re-probes speculation now and then. It changes only what is launched, never what is
// accepted. Pure bookkeeping over times the caller passes in.

export interface GovernorOptions {
  /** Accepted tokens per measurement window. */
  windowTokens: number;
  /** With speculation off, try it again after this many windows. */
  reprobeEvery: number;
  /** Speculation must be at least this much faster (ratio of ms per token) to stay on. */
  margin: number;
}

export const DEFAULT_GOVERNOR: GovernorOptions = { windowTokens: 8, reprobeEvery: 6, margin: 1.05 };

export interface GovernorState {
  speculate: boolean;
  /** Measured decode ms per token with speculation on / off (EWMA; null before a window). */
  onMsPerToken: number | null;
  offMsPerToken: number | null;
  /** Optimistic plain estimate: fastest canonical one-row round trip minus its queueing. */
  plainEstimateMs: number | null;
  windows: number;
}

const EWMA = 0.4;

export class SpeculationGovernor {
  readonly #o: GovernorOptions;
  #on = true;
  #onMs: number | null = null;
  #offMs: number | null = null;
  #plainEstimate: number | null = null;
  #windowStart: number | null = null;
  #windowTokens = 0;
  #windows = 0;
  #offWindows = 0;

  constructor(options: Partial<GovernorOptions> = {}) {
    this.#o = { ...DEFAULT_GOVERNOR, ...options };
    if (!(this.#o.windowTokens >= 1)) throw new RangeError("windowTokens must be >= 1");
    if (!(this.#o.reprobeEvery >= 1)) throw new RangeError("reprobeEvery must be >= 1");
  }

  /** Launch speculative runs now? */
  get speculate(): boolean {
    return this.#on;
  }

  get state(): GovernorState {
    return {
      speculate: this.#on,
      onMsPerToken: this.#onMs,
      offMsPerToken: this.#offMs,
      plainEstimateMs: this.#plainEstimate,
      windows: this.#windows,
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
      // setting are still landing on it).
      this.#windowStart = nowMs;
      this.#windowTokens = 0;
      return;
    }
    this.#windowTokens += count;
    if (this.#windowTokens < this.#o.windowTokens) return;
    const ms = (nowMs - this.#windowStart) / this.#windowTokens;
    this.#windows++;
    if (this.#on) this.#onMs = this.#onMs === null ? ms : EWMA * ms + (1 - EWMA) * this.#onMs;
    else this.#offMs = this.#offMs === null ? ms : EWMA * ms + (1 - EWMA) * this.#offMs;
    const next = this.#decide();
    if (next !== this.#on) {
      this.#on = next;
      this.#offWindows = 0;
      this.#windowStart = null;
    } else {
      this.#windowStart = nowMs;
    }
    this.#windowTokens = 0;
  }

  #decide(): boolean {
    const m = this.#o.margin;
    if (this.#on) {
      const plain = this.#offMs ?? this.#plainEstimate;
      if (this.#onMs === null || plain === null) return true;
      return this.#onMs * m < plain;
    }
    this.#offWindows++;
    if (this.#onMs !== null && this.#offMs !== null && this.#onMs * m < this.#offMs) return true;
    return this.#offWindows >= this.#o.reprobeEvery;
  }
}
