// The injectable clock for everything time-based in the transport, signaling and pipeline (heartbeats,
// liveness, shaping, compute timing). Tests pass a manual clock; production uses systemClock.

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it (idempotent). */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Calls `fn` every `ms` until the returned cancel function runs. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let cancel: () => void = () => {};
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    cancel = clock.after(ms, tick);
    fn();
  };
  cancel = clock.after(ms, tick);
  return () => {
    stopped = true;
    cancel();
  };
}
