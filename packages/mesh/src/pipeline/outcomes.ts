// The head's queue of outstanding runs and their outcomes, in launch order: what PipelinePort's
// hasOutcome()/next() read. Shared by the in-process and the networked pipeline. Not a scheduler: it never
// decides anything, it only pairs outcomes with launches and turns a pipeline failure into rejections.

import { MeshError } from "../errors.ts";
import type { RunOutcome, RunSpec } from "../ports.ts";

interface Entry {
  runId: number;
  kind: RunSpec["kind"];
  outcome: RunOutcome | null;
}

interface Waiter {
  resolve: (o: RunOutcome) => void;
  reject: (e: MeshError) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class OutcomeQueue {
  readonly #entries: Entry[] = [];
  readonly #byId = new Map<number, Entry>();
  #waiters: Waiter[] = [];
  #error: MeshError | null = null;

  get failed(): MeshError | null {
    return this.#error;
  }

  /** Runs launched and not yet taken by next(). */
  get outstanding(): number {
    return this.#entries.length;
  }

  kindOf(runId: number): RunSpec["kind"] | undefined {
    return this.#byId.get(runId)?.kind;
  }

  /** The oldest run still waiting for its outcome (the only one an outcome may answer), if any. */
  awaiting(): number | undefined {
    return this.#entries.find((x) => x.outcome === null)?.runId;
  }

  launched(runId: number, kind: RunSpec["kind"]): void {
    if (this.#byId.has(runId)) {
      this.fail(new MeshError("ERR_INTERNAL", `run ${runId} launched twice`));
      return;
    }
    const e: Entry = { runId, kind, outcome: null };
    this.#entries.push(e);
    this.#byId.set(runId, e);
  }

  /** An outcome arrived; it must belong to the oldest run still waiting for one (FIFO pipeline). */
  deliver(outcome: RunOutcome): void {
    if (this.#error !== null) return;
    const e = this.#entries.find((x) => x.outcome === null);
    if (e === undefined || e.runId !== outcome.runId) {
      this.fail(
        new MeshError(
          "ERR_INTERNAL",
          `outcome for run ${outcome.runId} arrived out of order (expected ${e?.runId ?? "none"})`,
        ),
      );
      return;
    }
    e.outcome = outcome;
    this.#flush();
  }

  hasOutcome(): boolean {
    return this.#error !== null || (this.#entries[0]?.outcome ?? null) !== null;
  }

  next(signal?: AbortSignal): Promise<RunOutcome> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (signal?.aborted === true)
      return Promise.reject(new MeshError("ERR_ABORTED", "next() aborted"));
    if (this.#entries.length <= this.#waiters.length) {
      return Promise.reject(new MeshError("ERR_INTERNAL", "next() called with no run outstanding"));
    }
    return new Promise<RunOutcome>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(new MeshError("ERR_ABORTED", "next() aborted"));
        },
      };
      signal?.addEventListener("abort", w.onAbort, { once: true });
      this.#waiters.push(w);
      this.#flush();
    });
  }

  /** Fails every waiter now and every later call. The first failure wins. */
  fail(error: MeshError): void {
    if (this.#error !== null) return;
    this.#error = error;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      w.signal?.removeEventListener("abort", w.onAbort);
      w.reject(error);
    }
  }

  #flush(): void {
    while (this.#waiters.length > 0) {
      const head = this.#entries[0];
      if (head === undefined || head.outcome === null) return;
      const w = this.#waiters.shift();
      if (w === undefined) return;
      this.#entries.shift();
      this.#byId.delete(head.runId);
      w.signal?.removeEventListener("abort", w.onAbort);
      w.resolve(head.outcome);
    }
  }
}
