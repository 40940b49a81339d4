// Progress of a long load as a log line: bytes done of the total, the rate since the load began and the
// time left at that rate, at most one line a second (and always the last). For `join`'s stderr, where a
// line per update beats a redrawn bar (the output is often a log file or a pipe).

import type { LoadProgress } from "@pipemesh/engine";

const MB = 1024 * 1024;

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - m * 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export class LoadMeter {
  readonly #now: () => number;
  #start: number | undefined;
  #lastLine = -Infinity;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** The line to print for this update, or null when one was printed less than a second ago. */
  update(what: string, p: LoadProgress): string | null {
    const t = this.#now();
    this.#start ??= t;
    const done = p.doneBytes >= p.totalBytes;
    if (!done && t - this.#lastLine < 1000) return null;
    this.#lastLine = t;
    const seconds = (t - this.#start) / 1000;
    const rate = seconds > 0 ? p.doneBytes / seconds : 0;
    const left = rate > 0 ? (p.totalBytes - p.doneBytes) / rate : Infinity;
    const head = `${what}: ${(p.doneBytes / MB).toFixed(1)} of ${(p.totalBytes / MB).toFixed(1)} MB`;
    if (done) return `${head}, done in ${duration(seconds)} (${(rate / MB).toFixed(1)} MB/s)`;
    return `${head}, ${(rate / MB).toFixed(1)} MB/s, ${duration(left)} left`;
  }
}
