// The shard worker: hosts one LayerShard behind comlink (the only comlink `expose` in the engine) and
// announces itself with the ready message. In a browser module worker it starts by itself; in Node the
// bootstrap shard-worker-node.mjs calls serveShard with a worker_threads endpoint and file system access.

import { expose, transfer, type Endpoint } from "comlink";
import { openBrowserCache } from "../cache/browser-cache.ts";
import { EngineError, type WireError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { openUrlModelDir } from "../loader/model-files.ts";
import type { LayerShard, ShardResult } from "../model/batch.ts";
import { loadLayerShard } from "../model/create-shard.ts";
import { READY_MESSAGE, type Outcome, type ShardApi } from "./shard-api.ts";

export interface ShardWorkerEnv {
  /** Opens spec.model (URLs in browsers; paths or URLs in Node). */
  openDir: (location: string) => ModelDir;
  /** The weight cache's counters, when reads go through one (to report where a load's bytes came from). */
  cacheStats?: (() => { hitBytes: number; fetchedBytes: number }) | undefined;
}

function toWire(e: unknown): WireError {
  if (e instanceof EngineError) return e.toWire();
  const err = e instanceof Error ? e : new Error(String(e));
  return new EngineError("ERR_INTERNAL", `${err.name}: ${err.message}`, { cause: e }).toWire();
}

async function outcome<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: toWire(e) };
  }
}

function resultBuffers(r: ShardResult): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const add = (a: ArrayBufferView | undefined): void => {
    if (a !== undefined && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer))
      out.push(a.buffer);
  };
  add(r.hidden);
  for (const o of r.outputs ?? []) {
    add(o.topIds);
    add(o.topProbs);
    add(o.logits);
  }
  return out;
}

/** Exposes a ShardApi on `endpoint` and posts the ready message. */
export function serveShard(endpoint: Endpoint, env: ShardWorkerEnv): void {
  let shard: LayerShard | undefined;
  let loading: Promise<unknown> | undefined;
  const inflight = new Map<number, AbortController>();

  const need = (): LayerShard => {
    if (shard === undefined) throw new EngineError("ERR_WORKER_NOT_READY", "no shard is loaded");
    return shard;
  };

  const api: ShardApi = {
    load: (spec, onProgress) =>
      outcome(async () => {
        if (loading !== undefined) throw new EngineError("ERR_INTERNAL", "load was called twice");
        // Progress calls travel on the proxy's own port, so the reply could overtake them: wait until
        // the last one was delivered before answering.
        let delivered: unknown = undefined;
        const report =
          onProgress === undefined
            ? undefined
            : (p: Parameters<typeof onProgress>[0]): void => {
                delivered = onProgress(p);
              };
        const stats = env.cacheStats;
        const before = stats === undefined ? undefined : { ...stats() }; // the counters are live
        const p = loadLayerShard(spec, { openDir: env.openDir, onProgress: report });
        loading = p;
        shard = await p;
        await delivered;
        const after = stats?.();
        if (before === undefined || after === undefined) return shard.info;
        const weightSource = {
          cachedBytes: after.hitBytes - before.hitBytes,
          downloadedBytes: after.fetchedBytes - before.fetchedBytes,
        };
        return { ...shard.info, weightSource };
      }),
    run: async (callId, batch) => {
      // Registered synchronously on arrival; an abort for this call is posted after the run, so it
      // always finds it here (or finds nothing because the run already finished).
      const controller = new AbortController();
      inflight.set(callId, controller);
      const out = await outcome(() => need().run(batch, controller.signal));
      inflight.delete(callId);
      return out.ok ? transfer(out, resultBuffers(out.value)) : out;
    },
    abort: (callId) => {
      inflight.get(callId)?.abort();
      return Promise.resolve();
    },
    kv: (op) => outcome(() => need().kv(op)),
    kvUsed: () => outcome(() => need().kvUsed()),
    destroy: () =>
      outcome(async () => {
        await shard?.destroy();
      }),
  };
  expose(api, endpoint);
  endpoint.postMessage(READY_MESSAGE);
}

// A browser module worker serves itself; Node worker_threads have no WorkerGlobalScope.
const scope = globalThis as { WorkerGlobalScope?: unknown; postMessage?: unknown };
if (typeof scope.WorkerGlobalScope === "function" && typeof scope.postMessage === "function") {
  // Weight byte ranges are kept in OPFS (or the Cache API) and only missing bytes are fetched.
  const cache = openBrowserCache();
  serveShard(globalThis, {
    openDir: (loc) => openUrlModelDir(loc, { cache }),
    cacheStats: cache === undefined ? undefined : () => cache.stats,
  });
}
