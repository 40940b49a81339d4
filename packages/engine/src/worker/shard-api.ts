// The one schema of everything that crosses the shard worker boundary: the RPC interface the worker
// exposes (ShardApi), its result envelope (errors travel as WireError, never as strings), and the ready
// handshake message. Plain data and typed arrays only. Imports nothing but types.

import type { WireError } from "../errors.ts";
import type { KvOp, ShardBatch, ShardInfo, ShardResult } from "../model/batch.ts";
import type { LoadProgress } from "../loader/load-weights.ts";
import type { ShardSpec } from "../model/shard-spec.ts";

export const SHARD_API_VERSION = 1;

/** Posted by the worker on its endpoint once the API is exposed. */
export interface ReadyMessage {
  type: "pipemesh-shard-ready";
  version: number;
}

export const READY_MESSAGE: ReadyMessage = {
  type: "pipemesh-shard-ready",
  version: SHARD_API_VERSION,
};

export function isReadyMessage(data: unknown): data is ReadyMessage {
  return (
    data !== null &&
    typeof data === "object" &&
    (data as { type?: unknown }).type === "pipemesh-shard-ready"
  );
}

/** Every call answers with an envelope, so an error keeps its code across the boundary. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

export interface ShardApi {
  /** Loads the shard described by spec (once). onProgress is a comlink proxy when given. */
  load(spec: ShardSpec, onProgress?: (p: LoadProgress) => void): Promise<Outcome<ShardInfo>>;
  /** Runs a batch; callId lets a later abort(callId) reach it between layers. */
  run(callId: number, batch: ShardBatch): Promise<Outcome<ShardResult>>;
  /** Aborts the run with this callId if it has not finished (no-op otherwise). */
  abort(callId: number): Promise<void>;
  kv(op: KvOp): Promise<Outcome<void>>;
  kvUsed(): Promise<Outcome<number>>;
  destroy(): Promise<Outcome<void>>;
}
