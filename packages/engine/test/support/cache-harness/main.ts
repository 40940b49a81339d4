// Entry of the weight cache harness page: window.cacheHarness runs a CacheCall in the page (`page`) or in a
// dedicated module worker (`worker`), as the shard worker reads weights. Test-only.

import { CACHE_CALLS, type CacheCall } from "./cache-calls.ts";

let nextId = 0;
let worker: Worker | undefined;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function worker_(call: CacheCall): Promise<unknown> {
  if (worker === undefined) {
    worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (
      ev: MessageEvent<{ id: number; ok: boolean; value?: unknown; error?: string }>,
    ) => {
      const p = pending.get(ev.data.id);
      pending.delete(ev.data.id);
      if (ev.data.ok) p?.resolve(ev.data.value);
      else p?.reject(new Error(ev.data.error));
    };
  }
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker?.postMessage({ id, call });
  });
}

function page(call: CacheCall): Promise<unknown> {
  const f = CACHE_CALLS[call.name] as (...a: unknown[]) => Promise<unknown>;
  return f(...call.args);
}

(globalThis as unknown as { cacheHarness: unknown }).cacheHarness = { page, worker: worker_ };
document.getElementById("status")!.textContent = "ready";
