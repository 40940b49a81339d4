// Dedicated worker of the weight cache harness: runs a CacheCall and posts the result back. Test-only.

import { CACHE_CALLS, type CacheCall } from "./cache-calls.ts";

self.onmessage = async (ev: MessageEvent<{ id: number; call: CacheCall }>) => {
  const { id, call } = ev.data;
  try {
    const f = CACHE_CALLS[call.name] as (...a: unknown[]) => Promise<unknown>;
    self.postMessage({ id, ok: true, value: await f(...call.args) });
  } catch (e) {
    self.postMessage({ id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
};
