// Entry of the parity harness page: exposes window.harness for page.evaluate, running calls in the page
// itself or in a dedicated module worker. Test-only.

import { HARNESS_API, type HarnessCall } from "./harness-api.ts";

let nextId = 0;
let worker: Worker | undefined;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function inWorker(call: HarnessCall): Promise<unknown> {
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
    worker.onerror = (ev) => {
      for (const p of pending.values()) p.reject(new Error(`worker error: ${ev.message}`));
      pending.clear();
    };
  }
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker?.postMessage({ id, call });
  });
}

const harness = { ...HARNESS_API, inWorker };
(globalThis as unknown as { harness: typeof harness }).harness = harness;
document.getElementById("status")!.textContent = "ready";
