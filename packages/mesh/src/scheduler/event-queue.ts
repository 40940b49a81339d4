// A single-consumer async queue: the generation pushes events, the caller iterates them with for-await.
// Unconsumed events simply accumulate (a generation is bounded by maxTokens). Not a general stream.

export class EventQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #done = false;
  #error: unknown = undefined;
  #failed = false;
  #wake: (() => void) | null = null;

  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#notify();
  }

  end(): void {
    this.#done = true;
    this.#notify();
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#failed = true;
    this.#error = error;
    this.#done = true;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#done) {
        if (this.#failed) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
