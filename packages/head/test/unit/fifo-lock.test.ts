// FifoLock: holders run one at a time in arrival order; a waiter that aborts leaves the queue at once.

import { describe, expect, it, vi } from "vitest";
import { FifoLock } from "../../src/fifo-lock.ts";

describe("FifoLock", () => {
  it("runs callers one at a time, first come first served", async () => {
    const lock = new FifoLock();
    const order: string[] = [];
    let release!: () => void;
    const first = lock.run(
      () =>
        new Promise<void>((r) => {
          order.push("a");
          release = r;
        }),
    );
    const second = lock.run(() => Promise.resolve(void order.push("b")));
    const third = lock.run(() => Promise.resolve(void order.push("c")));
    expect(lock.waiting).toBe(2);
    await vi.waitFor(() => expect(order).toEqual(["a"]));
    release();
    await Promise.all([first, second, third]);
    expect(order).toEqual(["a", "b", "c"]);
    expect(lock.held).toBe(false);
  });

  it("an aborted waiter leaves the queue with ERR_ABORTED", async () => {
    const lock = new FifoLock();
    let release!: () => void;
    const first = lock.run(() => new Promise<void>((r) => (release = r)));
    const abort = new AbortController();
    const gone = lock.run(() => Promise.resolve("never"), abort.signal);
    const next = lock.run(() => Promise.resolve("next"));
    const goneChecked = expect(gone).rejects.toMatchObject({ code: "ERR_ABORTED" });
    await vi.waitFor(() => expect(release).toBeTypeOf("function"));
    abort.abort();
    await goneChecked;
    expect(lock.waiting).toBe(1);
    release();
    await first;
    await expect(next).resolves.toBe("next");
  });
});
