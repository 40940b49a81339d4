// ShardClient: a LayerShard running in a worker (Web Worker or worker_thread), behind comlink (the only
// comlink `wrap` in the engine). Adds what comlink lacks: a ready handshake, per-call timeouts, errors
// rebuilt as EngineError with their code, every pending call rejected with ERR_WORKER_DIED when the worker
// dies, and abort of an in-flight run through an abort RPC the worker sees between layers.

import { proxy, releaseProxy, transfer, wrap, type Endpoint, type Remote } from "comlink";
import { EngineError } from "../errors.ts";
import type { LoadProgress } from "../loader/load-weights.ts";
import type { KvOp, LayerShard, ShardBatch, ShardInfo, ShardResult } from "../model/batch.ts";
import type { ShardSpec } from "../model/shard-spec.ts";
import { isReadyMessage, type ShardApi } from "./shard-api.ts";
import { watchReadyMessage, withTimeout, WorkerCalls } from "./worker-calls.ts";

/** A started worker as the client needs it; made by spawnBrowserShardWorker or spawnNodeShardWorker. */
export interface WorkerHandle {
  endpoint: Endpoint;
  /** Resolves when the worker posted its ready message (attach at spawn time; see watchReady). */
  ready: Promise<void>;
  /** Registers the callback for the worker's death (exit or crash). */
  onDeath(callback: (reason: string) => void): void;
  /** Stops the worker now. */
  terminate(): void;
}

/** Resolves on the worker's ready message. Call right after creating the worker, before any await. */
export function watchReady(endpoint: Endpoint): Promise<void> {
  return watchReadyMessage(endpoint, isReadyMessage);
}

export interface ShardClientOptions {
  /** How long the worker may take to post its ready message (default 30 s). */
  readyTimeoutMs?: number | undefined;
  /** How long loading the shard may take (default 10 min). */
  loadTimeoutMs?: number | undefined;
  /** Timeout of kv, kvUsed and destroy calls (default 60 s). */
  callTimeoutMs?: number | undefined;
  /** Timeout of a run (default 10 min). On timeout the run is also aborted in the worker. */
  runTimeoutMs?: number | undefined;
  /** Transfer (detach) the batch's own buffers instead of copying them (default false). */
  transferInputs?: boolean | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
  /** Aborts loading (the worker is terminated; nothing stays half-loaded). */
  signal?: AbortSignal | undefined;
}

const DEFAULTS = {
  readyTimeoutMs: 30_000,
  loadTimeoutMs: 600_000,
  callTimeoutMs: 60_000,
  runTimeoutMs: 600_000,
};

/** A typed array with its own, exactly sized buffer (a view into a bigger buffer is copied). */
function compact<T extends Int32Array | Float32Array>(a: T, copy: boolean): T {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  return whole && !copy ? a : (a.slice() as T);
}

function batchForWire(batch: ShardBatch, transferInputs: boolean): ShardBatch {
  const copy = !transferInputs;
  const out: ShardBatch = {
    positions: compact(batch.positions, copy),
    seqIds: batch.seqIds,
    outputRows: compact(batch.outputRows, copy),
  };
  if (batch.tokens !== undefined) out.tokens = compact(batch.tokens, copy);
  if (batch.hidden !== undefined) out.hidden = compact(batch.hidden, copy);
  if (batch.logitsRows !== undefined) out.logitsRows = compact(batch.logitsRows, copy);
  if (batch.topK !== undefined) out.topK = batch.topK;
  return out;
}

function batchBuffers(b: ShardBatch): ArrayBuffer[] {
  const arrays = [b.tokens, b.hidden, b.positions, b.outputRows, b.logitsRows];
  const out: ArrayBuffer[] = [];
  for (const a of arrays) {
    if (a !== undefined && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer))
      out.push(a.buffer);
  }
  return out;
}

export class ShardClient implements LayerShard {
  readonly info: ShardInfo;
  readonly #handle: WorkerHandle;
  readonly #api: Remote<ShardApi>;
  readonly #options: ShardClientOptions;
  readonly #calls = new WorkerCalls();
  #nextCallId = 1;

  private constructor(
    handle: WorkerHandle,
    api: Remote<ShardApi>,
    info: ShardInfo,
    options: ShardClientOptions,
  ) {
    this.#handle = handle;
    this.#api = api;
    this.info = info;
    this.#options = options;
  }

  /** Waits for the worker's ready message, loads the shard in it, and returns the client. */
  static async create(
    handle: WorkerHandle,
    spec: ShardSpec,
    options: ShardClientOptions = {},
  ): Promise<ShardClient> {
    let died: ((e: EngineError) => void) | undefined;
    const death = new Promise<never>((_, reject) => {
      died = reject;
    });
    handle.onDeath((reason) =>
      died?.(new EngineError("ERR_WORKER_DIED", `shard worker died: ${reason}`)),
    );
    const abort = new Promise<never>((_, reject) => {
      const signal = options.signal;
      if (signal === undefined) return;
      const fire = (): void =>
        reject(new EngineError("ERR_ABORTED", "loading the shard was aborted"));
      if (signal.aborted) fire();
      else signal.addEventListener("abort", fire, { once: true });
    });
    death.catch(() => undefined);
    abort.catch(() => undefined);
    const api = wrap<ShardApi>(handle.endpoint);
    try {
      await withTimeout(
        Promise.race([handle.ready, death, abort]),
        options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
        "ERR_WORKER_NOT_READY",
        "the shard worker's ready message",
      );
      const onProgress = options.onProgress === undefined ? undefined : proxy(options.onProgress);
      const loaded = await withTimeout(
        Promise.race([api.load(spec, onProgress), death, abort]),
        options.loadTimeoutMs ?? DEFAULTS.loadTimeoutMs,
        "ERR_WORKER_TIMEOUT",
        "loading the shard",
      );
      if (!loaded.ok) throw EngineError.fromWire(loaded.error);
      const client = new ShardClient(handle, api, loaded.value, options);
      handle.onDeath((reason) => client.#die(reason));
      return client;
    } catch (e) {
      api[releaseProxy]();
      handle.terminate();
      throw e;
    }
  }

  run(batch: ShardBatch, signal?: AbortSignal): Promise<ShardResult> {
    if (signal?.aborted === true) {
      return Promise.reject(
        new EngineError("ERR_ABORTED", "the run was aborted before it was sent"),
      );
    }
    const callId = this.#nextCallId++;
    const transferInputs = this.#options.transferInputs ?? false;
    const wire = batchForWire(batch, transferInputs);
    const onAbort = (): void => {
      this.#api.abort(callId).catch(() => undefined);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    return this.#calls
      .call(
        "run",
        () => this.#api.run(callId, transfer(wire, batchBuffers(wire))),
        this.#options.runTimeoutMs ?? DEFAULTS.runTimeoutMs,
        onAbort,
      )
      .finally(() => signal?.removeEventListener("abort", onAbort));
  }

  kv(op: KvOp): Promise<void> {
    return this.#calls.call("kv", () => this.#api.kv(op), this.#callTimeoutMs());
  }

  kvUsed(): Promise<number> {
    return this.#calls.call("kvUsed", () => this.#api.kvUsed(), this.#callTimeoutMs());
  }

  async destroy(): Promise<void> {
    if (this.#calls.dead !== undefined) return;
    try {
      await this.#calls.call("destroy", () => this.#api.destroy(), this.#callTimeoutMs());
    } catch {
      // The worker is terminated below either way.
    }
    this.#calls.fail(new EngineError("ERR_DESTROYED", "the shard client was destroyed"));
    this.#api[releaseProxy]();
    this.#handle.terminate();
  }

  #callTimeoutMs(): number {
    return this.#options.callTimeoutMs ?? DEFAULTS.callTimeoutMs;
  }

  #die(reason: string): void {
    if (this.#calls.dead !== undefined) return;
    this.#calls.fail(new EngineError("ERR_WORKER_DIED", `shard worker died: ${reason}`));
    this.#handle.terminate();
  }
}
