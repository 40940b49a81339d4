// SimClock: a deterministic virtual clock for tests and the sim bench. Timers fire in (time, insertion)
// order, and only when every microtask and immediate queued by the code under test has run, so async code
// behaves as if compute and network took the modelled time while the test takes almost none.
// Structurally a transport `Clock` (now, after) plus sleep() and run(). Not a real-time scheduler.

interface Timer {
  atMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export interface SimRunOptions {
  /** Fail once virtual time passes this (default 1e9 ms). */
  maxTimeMs?: number;
  /** Fail after this many timer firings (default 5e6). */
  maxEvents?: number;
}

const drainOnce = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SimClock {
  #nowMs = 0;
  #seq = 0;
  #heap: Timer[] = [];
  #firedEvents = 0;

  now(): number {
    return this.#nowMs;
  }

  get firedEvents(): number {
    return this.#firedEvents;
  }

  /** Runs `fn` after `ms` of virtual time; returns an idempotent cancel function. */
  after(ms: number, fn: () => void): () => void {
    const timer: Timer = {
      atMs: this.#nowMs + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Resolves after `ms` of virtual time; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        cancel();
        reject(abortReason(signal));
      };
      const cancel = this.after(ms, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Drives virtual time until `promise` settles: drains queued async work, then fires the earliest timer,
   * and repeats. Throws a "deadlock" error when nothing is scheduled and the promise is still pending.
   */
  async run<T>(promise: Promise<T>, options: SimRunOptions = {}): Promise<T> {
    const maxTimeMs = options.maxTimeMs ?? 1e9;
    const maxEvents = options.maxEvents ?? 5e6;
    let settled = false;
    const tracked = promise.then(
      (v) => {
        settled = true;
        return v;
      },
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    tracked.catch(() => {}); // observed below; avoid an unhandled-rejection report in between
    for (;;) {
      await drainOnce();
      if (settled) return tracked;
      const timer = this.#pop();
      if (timer === undefined) {
        throw new Error(
          `SimClock deadlock at ${this.#nowMs} ms: no timers pending, promise unsettled`,
        );
      }
      if (timer.atMs > maxTimeMs) throw new Error(`SimClock: passed maxTimeMs ${maxTimeMs}`);
      if (++this.#firedEvents > maxEvents)
        throw new Error(`SimClock: more than ${maxEvents} events`);
      this.#nowMs = timer.atMs;
      timer.fn();
    }
  }

  /** Fires every timer due at or before now + ms (draining between firings), then sets now to it. */
  async advance(ms: number): Promise<void> {
    const target = this.#nowMs + ms;
    for (;;) {
      await drainOnce();
      const top = this.#peek();
      if (top === undefined || top.atMs > target) break;
      const timer = this.#pop();
      if (timer === undefined) break;
      this.#nowMs = timer.atMs;
      this.#firedEvents++;
      timer.fn();
    }
    this.#nowMs = target;
    await drainOnce();
  }

  // --- binary heap on (atMs, seq), skipping cancelled timers lazily ---

  #peek(): Timer | undefined {
    while (this.#heap[0]?.cancelled === true) this.#removeTop();
    return this.#heap[0];
  }

  #pop(): Timer | undefined {
    const top = this.#peek();
    if (top !== undefined) this.#removeTop();
    return top;
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #removeTop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l]!, h[m]!)) m = l;
      if (r < h.length && less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function less(a: Timer, b: Timer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error(`aborted: ${String(reason)}`);
}
