// The drafter worker: hosts one draft model (ORT or engine, chosen by loadDrafter) behind comlink and
// announces itself with the drafter ready message, so drafting never blocks the page's main thread. In a
// browser module worker it starts by itself; in Node the bootstrap drafter-worker-node.mjs calls
// serveDrafter with a worker_threads endpoint and file system access.

import { expose, transfer, type Endpoint } from "comlink";
import type { DraftModel, DraftPrediction } from "../draft/draft-model.ts";
import { loadDrafter } from "../draft/load-drafter.ts";
import type { OrtProbe } from "../draft/ort-runtime.ts";
import { EngineError, type WireError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { openUrlModelDir } from "../loader/model-files.ts";
import { DRAFTER_READY_MESSAGE, type DrafterApi } from "./drafter-api.ts";
import type { Outcome } from "./shard-api.ts";

export interface DrafterWorkerEnv {
  /** Opens spec.draftDir (URLs in browsers; paths or URLs in Node). */
  openDir: (location: string) => ModelDir;
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

function predictionBuffers(preds: DraftPrediction[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const add = (a: ArrayBufferView | undefined): void => {
    if (a !== undefined && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) {
      out.push(a.buffer);
    }
  };
  for (const p of preds) {
    add(p.topIds);
    add(p.topProbs);
    add(p.probs);
  }
  return out;
}

/** Exposes a DrafterApi on `endpoint` and posts the ready message. */
export function serveDrafter(endpoint: Endpoint, env: DrafterWorkerEnv): void {
  let drafter: (DraftModel & { stats?: () => object }) | undefined;
  let loading = false;
  const inflight = new Map<number, AbortController>();

  const need = (): DraftModel & { stats?: () => object } => {
    if (drafter === undefined) {
      throw new EngineError("ERR_WORKER_NOT_READY", "no draft model is loaded");
    }
    return drafter;
  };

  const api: DrafterApi = {
    load: (spec, onProgress) =>
      outcome(async () => {
        if (loading) throw new EngineError("ERR_INTERNAL", "load was called twice");
        loading = true;
        let probe: OrtProbe | undefined;
        const loaded = await loadDrafter({
          ...spec,
          openDir: env.openDir,
          onProgress,
          ort: { ...spec.ort, onProbe: (p) => (probe = p) },
        });
        drafter = loaded.drafter;
        return {
          kind: loaded.kind,
          name: loaded.name,
          vocabSize: loaded.drafter.vocabSize,
          maxPositions: loaded.maxPositions,
          executionProvider: loaded.executionProvider,
          probe,
        };
      }),
    predict: async (callId, contexts, options) => {
      // Registered synchronously on arrival, so an abort posted after it always finds it.
      const controller = new AbortController();
      inflight.set(callId, controller);
      const out = await outcome(() => need().predict(contexts, options, controller.signal));
      inflight.delete(callId);
      return out.ok ? transfer(out, predictionBuffers(out.value)) : out;
    },
    abort: (callId) => {
      inflight.get(callId)?.abort();
      return Promise.resolve();
    },
    accept: (accepted) => outcome(() => need().accept(accepted)),
    reset: () => outcome(() => need().reset()),
    stats: () =>
      outcome(() => {
        const s = need().stats?.() ?? {};
        const numbers: Record<string, number> = {};
        for (const [k, v] of Object.entries(s)) if (typeof v === "number") numbers[k] = v;
        return Promise.resolve(numbers);
      }),
    destroy: () =>
      outcome(async () => {
        await drafter?.destroy();
      }),
  };
  expose(api, endpoint);
  endpoint.postMessage(DRAFTER_READY_MESSAGE);
}

// A browser module worker serves itself; Node worker_threads have no WorkerGlobalScope.
const scope = globalThis as { WorkerGlobalScope?: unknown; postMessage?: unknown };
if (typeof scope.WorkerGlobalScope === "function" && typeof scope.postMessage === "function") {
  serveDrafter(globalThis, { openDir: (loc) => openUrlModelDir(loc) });
}
