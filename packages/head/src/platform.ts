// HeadPlatform: what differs between a head in Node and one in a browser tab, passed into openHead:
// how a model location (a path, a URL) is opened, and how a draft model is loaded (in this process, or
// in a worker). Declarations only; the Node platform is in ./node, the browser one in browser-platform.ts.

import type { DrafterKind, ModelDir, TargetVocab } from "@pipemesh/engine";
import type { Drafter } from "@pipemesh/mesh";

export interface DrafterRequest {
  draftDir: string;
  /** Undefined: the platform's preferred kind for the directory (ort when it holds an ONNX export). */
  kind: DrafterKind | undefined;
  targetVocab: TargetVocab;
  signal: AbortSignal;
}

export interface PlatformDrafter {
  drafter: Drafter;
  /** "onnxruntime-web" or "engine", as a generation reports it. */
  name: string;
  /** Most positions the draft model can hold. */
  maxPositions: number;
}

export interface HeadPlatform {
  /** Opens a model location (a directory or file path, an http(s) URL) for reading. */
  openModelDir(location: string): ModelDir;
  /** Loads a draft model of `kind` (or the preferred one); throws when it cannot. */
  loadDrafter(request: DrafterRequest): Promise<PlatformDrafter>;
}
