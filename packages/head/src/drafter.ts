// The head's one way to open a draft model, with its fallback policy: a forced kind loads that kind or
// fails; otherwise the platform's preferred kind (the ONNX export when the directory has one) is tried,
// and if it fails to load for any reason but a vocabulary mismatch, the engine drafter takes over. The
// loading itself is the platform's (in this process, or in a worker).

import { isEngineError, loadTargetVocab, type DrafterKind } from "@pipemesh/engine";
import type { Drafter } from "@pipemesh/mesh";
import type { HeadPlatform } from "./platform.ts";

export interface OpenedDrafter {
  drafter: Drafter;
  /** "onnxruntime-web" or "engine". */
  name: string;
  /** Most positions the draft model can hold. */
  maxPositions: number;
  /** Why the preferred drafter was not used (it failed and the engine drafter took over). */
  fallbackReason: string | undefined;
}

export interface OpenDrafterOptions {
  platform: HeadPlatform;
  /** The target model's location (its vocabulary is checked against the draft's). */
  target: string;
  draft: string;
  /** Undefined: auto (preferred kind, engine on failure). */
  kind?: DrafterKind | undefined;
  signal: AbortSignal;
}

export async function openDrafter(o: OpenDrafterOptions): Promise<OpenedDrafter> {
  const targetVocab = await loadTargetVocab(o.platform.openModelDir(o.target), o.signal);
  const load = (kind: DrafterKind | undefined) =>
    o.platform.loadDrafter({ draftDir: o.draft, kind, targetVocab, signal: o.signal });
  if (o.kind !== undefined) return { ...(await load(o.kind)), fallbackReason: undefined };
  try {
    return { ...(await load(undefined)), fallbackReason: undefined };
  } catch (e) {
    const fatal = isEngineError(e) && e.code === "ERR_DRAFT_VOCAB";
    if (o.signal.aborted || fatal) throw e;
    return { ...(await load("engine")), fallbackReason: String(e) };
  }
}
