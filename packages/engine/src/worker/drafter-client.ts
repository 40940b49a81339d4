// DrafterClient: a draft model running in its own worker (Web Worker or worker_thread) behind comlink,
// implementing DraftModel (the mesh's Drafter port). Like ShardClient it adds what comlink lacks: a ready
// handshake, per-call timeouts, errors rebuilt as EngineError with their code, every pending call rejected
// with ERR_WORKER_DIED when the worker dies, and abort of an in-flight predict through an abort RPC.

import { proxy, releaseProxy, wrap, type Endpoint, type Remote } from "comlink";
import type { DraftModel, DraftOptions, DraftPrediction } from "../draft/draft-model.ts";
import type { DraftLoadProgress } from "../draft/ort-load.ts";
import { EngineError } from "../errors.ts";
import {
  isDrafterReadyMessage,
  type DrafterApi,
  type DrafterInfo,
  type DrafterSpec,
} from "./drafter-api.ts";
import { watchReadyMessage, withTimeout, WorkerCalls } from "./worker-calls.ts";
import type { WorkerHandle } from "./shard-client.ts";

/** Resolves on the drafter worker's ready message. Call right after creating the worker. */
export function watchDrafterReady(endpoint: Endpoint): Promise<void> {
  return watchReadyMessage(endpoint, isDrafterReadyMessage);
}

export interface DrafterClientOptions {
  /** How long the worker may take to post its ready message (default 30 s). */
  readyTimeoutMs?: number | undefined;
  /** How long loading may take (default 10 min). */
  loadTimeoutMs?: number | undefined;
  /** Timeout of a predict call (default 10 min: a first call may prefill a long prompt). */
  predictTimeoutMs?: number | undefined;
  /** Timeout of accept, reset, stats and destroy (default 60 s). */
  callTimeoutMs?: number | undefined;
  onProgress?: ((p: DraftLoadProgress) => void) | undefined;
  /** Aborts loading (the worker is terminated). */
  signal?: AbortSignal | undefined;
}

const DEFAULTS = {
  readyTimeoutMs: 30_000,
  loadTimeoutMs: 600_000,
  predictTimeoutMs: 600_000,
  callTimeoutMs: 60_000,
};

export class DrafterClient implements DraftModel {
  readonly info: DrafterInfo;
  readonly #handle: WorkerHandle;
  readonly #api: Remote<DrafterApi>;
  readonly #options: DrafterClientOptions;
  readonly #calls = new WorkerCalls();
  #nextCallId = 1;

  private constructor(
    handle: WorkerHandle,
    api: Remote<DrafterApi>,
    info: DrafterInfo,
    options: DrafterClientOptions,
  ) {
    this.#handle = handle;
    this.#api = api;
    this.info = info;
    this.#options = options;
  }

  get vocabSize(): number {
    return this.info.vocabSize;
  }

  /** Waits for the worker's ready message, loads the drafter in it, and returns the client. */
  static async create(
    handle: WorkerHandle,
    spec: DrafterSpec,
    options: DrafterClientOptions = {},
  ): Promise<DrafterClient> {
    let died: ((e: EngineError) => void) | undefined;
    const death = new Promise<never>((_, reject) => {
      died = reject;
    });
    handle.onDeath((reason) =>
      died?.(new EngineError("ERR_WORKER_DIED", `drafter worker died: ${reason}`)),
    );
    const abort = new Promise<never>((_, reject) => {
      const signal = options.signal;
      if (signal === undefined) return;
      const fire = (): void =>
        reject(new EngineError("ERR_ABORTED", "loading the draft model was aborted"));
      if (signal.aborted) fire();
      else signal.addEventListener("abort", fire, { once: true });
    });
    death.catch(() => undefined);
    abort.catch(() => undefined);
    const api = wrap<DrafterApi>(handle.endpoint);
    try {
      await withTimeout(
        Promise.race([handle.ready, death, abort]),
        options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
        "ERR_WORKER_NOT_READY",
        "the drafter worker's ready message",
      );
      // Progress travels on its own message channel and may trail the load result: events after the
      // result are dropped, and "ready" is reported here, last.
      let finished = false;
      let last: DraftLoadProgress = { phase: "read", doneBytes: 0, totalBytes: 0 };
      const report = options.onProgress;
      const onProgress =
        report === undefined
          ? undefined
          : proxy((p: DraftLoadProgress) => {
              if (finished || p.phase === "ready") return;
              last = p;
              report(p);
            });
      const loaded = await withTimeout(
        Promise.race([api.load(spec, onProgress), death, abort]),
        options.loadTimeoutMs ?? DEFAULTS.loadTimeoutMs,
        "ERR_WORKER_TIMEOUT",
        "loading the draft model",
      );
      finished = true;
      if (!loaded.ok) throw EngineError.fromWire(loaded.error);
      report?.({ phase: "ready", doneBytes: last.doneBytes, totalBytes: last.totalBytes });
      const client = new DrafterClient(handle, api, loaded.value, options);
      handle.onDeath((reason) => client.#die(reason));
      return client;
    } catch (e) {
      api[releaseProxy]();
      handle.terminate();
      throw e;
    }
  }

  predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]> {
    if (signal?.aborted === true) {
      return Promise.reject(new EngineError("ERR_ABORTED", "the draft was aborted"));
    }
    const callId = this.#nextCallId++;
    const onAbort = (): void => {
      this.#api.abort(callId).catch(() => undefined);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const wire = { topK: options.topK, wantProbs: options.wantProbs === true };
    return this.#calls
      .call(
        "predict",
        () => this.#api.predict(callId, [...contexts], wire),
        this.#options.predictTimeoutMs ?? DEFAULTS.predictTimeoutMs,
        onAbort,
      )
      .finally(() => signal?.removeEventListener("abort", onAbort));
  }

  accept(accepted: Int32Array): Promise<void> {
    return this.#calls.call("accept", () => this.#api.accept(accepted), this.#callTimeoutMs());
  }

  reset(): Promise<void> {
    return this.#calls.call("reset", () => this.#api.reset(), this.#callTimeoutMs());
  }

  stats(): Promise<Record<string, number>> {
    return this.#calls.call("stats", () => this.#api.stats(), this.#callTimeoutMs());
  }

  async destroy(): Promise<void> {
    if (this.#calls.dead !== undefined) return;
    try {
      await this.#calls.call("destroy", () => this.#api.destroy(), this.#callTimeoutMs());
    } catch {
      // The worker is terminated below either way.
    }
    this.#calls.fail(new EngineError("ERR_DESTROYED", "the drafter was destroyed"));
    this.#api[releaseProxy]();
    this.#handle.terminate();
  }

  #callTimeoutMs(): number {
    return this.#options.callTimeoutMs ?? DEFAULTS.callTimeoutMs;
  }

  #die(reason: string): void {
    if (this.#calls.dead !== undefined) return;
    this.#calls.fail(new EngineError("ERR_WORKER_DIED", `drafter worker died: ${reason}`));
    this.#handle.terminate();
  }
}
