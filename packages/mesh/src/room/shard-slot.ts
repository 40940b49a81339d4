// Holds the one shard a peer has loaded for its assigned layer range: loads through the app's injected
// loadStage (the engine), replaces it when the assignment changes (aborting a load in progress), and
// destroys it when no longer needed. Knows nothing of engines; a shard is any StageRunner.

import { MeshError } from "../errors.ts";
import type { StageRunner } from "../ports.ts";
import type { LayerRange, ModelSource } from "../protocol/messages.ts";

/** What a peer must load: its layer range, whether it embeds tokens (the head) and whether it is the tail. */
export interface StageLoadSpec extends LayerRange {
  modelId: string;
  layerCount: number;
  /** Embeds token ids (the head's shard). */
  embeds: boolean;
  /** The last stage: applies the final norm and LM head. */
  tail: boolean;
  /** Tokens of context to size the K/V cache for (the room model's); absent: the loader's default. */
  contextLength?: number | undefined;
  /** Where the model's files are (absolute, or a path on the room's server); absent: /models/<id>. */
  modelUrl?: string | undefined;
  /** The room model's files with their sizes and hashes, to check what the loader opens against. */
  source?: ModelSource | undefined;
}

/** A loaded shard; destroy() frees its memory (optional). */
export interface LoadedStage extends StageRunner {
  destroy?(): void | Promise<void>;
  /** Bytes of its weight buffers on the device, and of its KV cache, when the loader knows them. */
  weightBytes?: number | undefined;
  kvBytes?: number | undefined;
}

/** The app's loader: engine-backed in the CLI and the web app, a toy in tests. */
export type LoadStage = (
  spec: StageLoadSpec,
  onProgress: (fraction: number) => void,
  signal: AbortSignal,
) => Promise<LoadedStage>;

export function specKey(s: StageLoadSpec): string {
  return `${s.modelId}:${s.layerStart}-${s.layerEnd}:${s.embeds ? "e" : ""}${s.tail ? "t" : ""}:${s.contextLength ?? ""}`;
}

export class ShardSlot {
  readonly #load: LoadStage;
  readonly #onProgress: (spec: StageLoadSpec, fraction: number) => void;
  #key: string | null = null;
  #loading: Promise<LoadedStage> | null = null;
  #abort: AbortController | null = null;
  #loaded: { key: string; runner: LoadedStage } | null = null;
  #destroyed = false;

  constructor(load: LoadStage, onProgress: (spec: StageLoadSpec, fraction: number) => void) {
    this.#load = load;
    this.#onProgress = onProgress;
  }

  /** The loaded shard for `spec`, or null. */
  loaded(spec: StageLoadSpec): LoadedStage | null {
    return this.#loaded?.key === specKey(spec) ? this.#loaded.runner : null;
  }

  /** Loads `spec` unless it is loaded or loading; a different spec replaces the current one. */
  ensure(spec: StageLoadSpec): Promise<LoadedStage> {
    if (this.#destroyed)
      return Promise.reject(new MeshError("ERR_DESTROYED", "shard slot destroyed"));
    const key = specKey(spec);
    if (this.#loaded?.key === key) return Promise.resolve(this.#loaded.runner);
    if (this.#key === key && this.#loading !== null) return this.#loading;
    this.release();
    const abort = new AbortController();
    this.#key = key;
    this.#abort = abort;
    const loading = this.#load(spec, (f) => this.#onProgress(spec, f), abort.signal).then(
      (runner) => {
        if (abort.signal.aborted || this.#key !== key) {
          void runner.destroy?.();
          throw new MeshError("ERR_ABORTED", "the assignment changed while loading");
        }
        this.#loaded = { key, runner };
        this.#loading = null;
        return runner;
      },
      (e: unknown) => {
        if (this.#key === key) {
          this.#loading = null;
          this.#key = null;
        }
        throw e;
      },
    );
    loading.catch(() => {});
    this.#loading = loading;
    return loading;
  }

  /** Drops the current shard (and any load in progress). */
  release(): void {
    this.#abort?.abort();
    this.#abort = null;
    this.#loading = null;
    this.#key = null;
    const old = this.#loaded;
    this.#loaded = null;
    if (old !== null) void Promise.resolve(old.runner.destroy?.()).catch(() => {});
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.release();
    this.#destroyed = true;
  }
}
