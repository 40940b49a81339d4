// When a contributor tab leaves the room on its own: the page is being hidden for good (`pagehide`: tab
// closed, navigated away, or put in the back/forward cache), so the head re-plans at once instead of after
// the heartbeat timeout; or its shard can no longer compute (the GPU device was lost, the device ran out of
// memory, the shard worker died), so staying would only fail every generation that reaches it. No DOM
// beyond the window's lifecycle events.

import { EngineError, type EngineErrorCode } from "@pipemesh/engine";
import type { LoadedStage, LoadStage } from "@pipemesh/mesh";

/** The codes that end a contribution: the shard cannot serve again without a fresh start. */
export type ShardFatalCode = Extract<
  EngineErrorCode,
  "ERR_GPU_LOST" | "ERR_GPU_OOM" | "ERR_WORKER_DIED"
>;

const FATAL: readonly ShardFatalCode[] = ["ERR_GPU_LOST", "ERR_GPU_OOM", "ERR_WORKER_DIED"];

/**
 * The coded reason an error ends this tab's contribution, or null when the shard can go on. Looks at the
 * error's code, its causes (a load failure wraps the engine's error) and its message (an error that crossed
 * a boundary as text keeps its code as the first word); a WebGPU out-of-memory error counts as ERR_GPU_OOM.
 */
export function fatalShardError(error: unknown): EngineError | null {
  for (let e: unknown = error, depth = 0; e != null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    const message = e instanceof Error ? e.message : typeof e === "string" ? e : "";
    const hit =
      FATAL.find((c) => c === code) ??
      FATAL.find((c) => new RegExp(`(^|\\W)${c}(\\W|$)`).test(message)) ??
      (name === "GPUOutOfMemoryError" || /out[- ]of[- ]memory/i.test(message)
        ? "ERR_GPU_OOM"
        : undefined);
    if (hit !== undefined) {
      const text = message.replace(/^ERR_[A-Z0-9_]+: /, "");
      return e instanceof EngineError && e.code === hit
        ? e
        : new EngineError(hit, text === "" ? hit : text, { cause: e });
    }
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/** A LoadStage whose loads and shards report a fatal failure (see fatalShardError) once, to `onFatal`. */
export function watchShard(load: LoadStage, onFatal: (reason: EngineError) => void): LoadStage {
  let told = false;
  const check = (e: unknown): never => {
    const fatal = fatalShardError(e);
    if (fatal !== null && !told) {
      told = true;
      queueMicrotask(() => onFatal(fatal)); // after the failing call has settled for its caller
    }
    throw e;
  };
  return async (spec, onProgress, signal) => {
    const stage = await load(spec, onProgress, signal).catch(check);
    const watched: LoadedStage = {
      run: (batch, s) => stage.run(batch, s).catch(check),
      kv: (op) => stage.kv(op).catch(check),
      destroy: () => stage.destroy?.(),
      get weightBytes() {
        return stage.weightBytes;
      },
      get kvBytes() {
        return stage.kvBytes;
      },
    };
    return watched;
  };
}

/**
 * Calls `leave` when the page is hidden for good or enters the back/forward cache (`pagehide`, the last
 * event browsers fire reliably on desktop). Returns the function that stops listening.
 */
export function leaveOnPageHide(
  leave: () => void,
  target: EventTarget | undefined = globalThis,
): () => void {
  if (target === undefined || typeof target.addEventListener !== "function") return () => {};
  const onHide = (): void => leave();
  target.addEventListener("pagehide", onHide);
  return () => target.removeEventListener("pagehide", onHide);
}
