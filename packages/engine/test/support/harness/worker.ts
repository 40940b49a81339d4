// Dedicated module worker of the parity harness: runs a HarnessCall and posts its result (or the error's
// message) back. Test-only.

import { HARNESS_API, type HarnessCall } from "./harness-api.ts";

self.onmessage = async (ev: MessageEvent<{ id: number; call: HarnessCall }>) => {
  const { id, call } = ev.data;
  try {
    const value =
      call.fn === "kernelCases"
        ? await HARNESS_API.kernelCases(call.arg)
        : await HARNESS_API.modelGreedy(call.arg);
    self.postMessage({ id, ok: true, value });
  } catch (e) {
    self.postMessage({
      id,
      ok: false,
      error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    });
  }
};
