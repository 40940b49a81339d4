// FifoLock: one holder at a time, waiters served in arrival order. A waiter whose signal aborts leaves
// the queue at once (ERR_ABORTED) without disturbing the others. Used to run one generation at a time.

import { MeshError } from "@pipemesh/mesh";

interface Waiter {
  grant: () => void;
}

export class FifoLock {
  #held = false;
  readonly #waiters: Waiter[] = [];

  /** Callers waiting (not counting the holder). */
  get waiting(): number {
    return this.#waiters.length;
  }

  get held(): boolean {
    return this.#held;
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(aborted());
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(aborted());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#held = false;
    else next.grant();
  }
}

function aborted(): MeshError {
  return new MeshError("ERR_ABORTED", "the request was cancelled while it waited");
}
