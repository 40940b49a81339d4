// The call bookkeeping both worker clients (ShardClient, DrafterClient) need on top of comlink: per-call
// timeouts, replies rebuilt as EngineError with their code, and every pending call rejected at once when
// the worker dies or the client is destroyed; and the wait for a worker's ready message. Knows nothing of
// what the calls are.

import type { Endpoint } from "comlink";
import { EngineError, isEngineError, type EngineErrorCode } from "../errors.ts";
import type { Outcome } from "./shard-api.ts";

export class WorkerCalls {
  readonly #pending = new Set<(e: EngineError) => void>();
  #dead: EngineError | undefined;

  /** Why the worker can take no more calls (died, destroyed); undefined while it can. */
  get dead(): EngineError | undefined {
    return this.#dead;
  }

  /**
   * Sends one call and settles with its outcome, ERR_WORKER_TIMEOUT after timeoutMs (calling onTimeout
   * first), or the failure that ended the worker.
   */
  call<T>(
    what: string,
    send: () => Promise<Outcome<T>>,
    timeoutMs: number,
    onTimeout?: () => void,
  ): Promise<T> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(rejecter);
        f();
      };
      const rejecter = (e: EngineError): void => settle(() => reject(e));
      this.#pending.add(rejecter);
      const timer = setTimeout(() => {
        onTimeout?.();
        rejecter(new EngineError("ERR_WORKER_TIMEOUT", `${what} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      send().then(
        (out) =>
          settle(() => (out.ok ? resolve(out.value) : reject(EngineError.fromWire(out.error)))),
        (e: unknown) =>
          rejecter(
            this.#dead ??
              (isEngineError(e)
                ? e
                : new EngineError("ERR_INTERNAL", `${what} failed in transport: ${String(e)}`)),
          ),
      );
    });
  }

  /** Ends the worker's calls: every pending one and every later one rejects with e. */
  fail(e: EngineError): void {
    this.#dead = e;
    for (const reject of [...this.#pending]) reject(e);
  }
}

/** p, or a coded rejection after ms; the timer is cleared when p settles. */
export function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  code: EngineErrorCode,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EngineError(code, `${what} took longer than ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Resolves on the first message from the worker that `isReady` accepts (its ready handshake). */
export function watchReadyMessage(
  endpoint: Endpoint,
  isReady: (data: unknown) => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    const listener = (ev: Event): void => {
      if (isReady((ev as MessageEvent).data)) {
        endpoint.removeEventListener("message", listener);
        resolve();
      }
    };
    endpoint.addEventListener("message", listener);
    endpoint.start?.();
  });
}
