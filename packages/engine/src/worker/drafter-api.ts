// The one schema of everything that crosses the drafter worker boundary: the RPC interface the worker
// exposes (DrafterApi), what loading takes and returns, and the ready handshake message. Results use the
// shard worker's Outcome envelope, so errors keep their code. Plain data and typed arrays only; types only.

import type { DraftOptions, DraftPrediction } from "../draft/draft-model.ts";
import type { DrafterKind, DrafterName } from "../draft/load-drafter.ts";
import type { DraftLoadProgress } from "../draft/ort-load.ts";
import type { OrtDrafterOptions } from "../draft/ort-drafter.ts";
import type { OrtProbe, OrtProviderChoice, OrtRuntimeOptions } from "../draft/ort-runtime.ts";
import type { TargetVocab } from "../draft/vocab-check.ts";
import type { ShardBackend } from "../model/shard-spec.ts";
import type { Outcome } from "./shard-api.ts";

export const DRAFTER_API_VERSION = 1;

export interface DrafterReadyMessage {
  type: "pipemesh-drafter-ready";
  version: number;
}

export const DRAFTER_READY_MESSAGE: DrafterReadyMessage = {
  type: "pipemesh-drafter-ready",
  version: DRAFTER_API_VERSION,
};

export function isDrafterReadyMessage(data: unknown): data is DrafterReadyMessage {
  return (
    data !== null &&
    typeof data === "object" &&
    (data as { type?: unknown }).type === "pipemesh-drafter-ready"
  );
}

/** What the worker loads: loadDrafter's options without callbacks (a URL in browsers). */
export interface DrafterSpec {
  draftDir: string;
  kind?: DrafterKind | undefined;
  targetVocab?: TargetVocab | undefined;
  ort?:
    | (OrtDrafterOptions & {
        onnxFile?: string | undefined;
        executionProvider?: OrtProviderChoice | undefined;
        runtime?: OrtRuntimeOptions | undefined;
      })
    | undefined;
  engine?:
    | {
        backend?: ShardBackend | undefined;
        kvCells?: number | undefined;
        maxSeqs?: number | undefined;
      }
    | undefined;
}

export interface DrafterInfo {
  kind: DrafterKind;
  name: DrafterName;
  vocabSize: number;
  maxPositions: number;
  executionProvider: string;
  /** What the ORT drafter's "auto" provider choice measured, when it measured. */
  probe?: OrtProbe | undefined;
}

export interface DrafterApi {
  /** Loads the drafter described by spec (once). onProgress is a comlink proxy when given. */
  load(
    spec: DrafterSpec,
    onProgress?: (p: DraftLoadProgress) => void,
  ): Promise<Outcome<DrafterInfo>>;
  /** callId lets a later abort(callId) reach this call between session runs. */
  predict(
    callId: number,
    contexts: Int32Array[],
    options: DraftOptions,
  ): Promise<Outcome<DraftPrediction[]>>;
  /** Aborts the predict call with this callId if it has not finished (no-op otherwise). */
  abort(callId: number): Promise<void>;
  accept(accepted: Int32Array): Promise<Outcome<void>>;
  reset(): Promise<Outcome<void>>;
  /** The drafter's counters (OrtDrafterStats or EngineDrafterStats). */
  stats(): Promise<Outcome<Record<string, number>>>;
  destroy(): Promise<Outcome<void>>;
}
