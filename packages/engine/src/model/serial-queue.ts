// SerialQueue: runs async tasks one at a time in submission order, so a shard applies runs and KV ops in
// exactly the order they were issued, even when callers do not await each call. A failed task does not
// block later ones. Also yieldToEventLoop, which lets an abort message in before the next layer.

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Queues `task`; resolves or rejects with its result once every earlier task has settled. */
  push<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(
      () => task(),
      () => task(),
    );
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** Resolves on a later macrotask (setImmediate in Node, setTimeout elsewhere). */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === "function") g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
