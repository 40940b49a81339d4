// The browser's HeadPlatform: models are read over HTTP (Range requests), and the draft model runs in its
// own Web Worker (onnxruntime-web with the chosen execution provider, or the engine on the CPU backend).

import { createBrowserDrafterClient, openUrlModelDir } from "@pipemesh/engine";
import type { Drafter } from "@pipemesh/mesh";
import type { HeadPlatform } from "./platform.ts";

export interface BrowserPlatformOptions {
  /** Execution provider of an ONNX draft model (default wasm). */
  draftProvider?: "wasm" | "webgpu" | "auto";
}

export function browserPlatform(o: BrowserPlatformOptions = {}): HeadPlatform {
  return {
    openModelDir: openUrlModelDir,
    async loadDrafter(r) {
      const client = await createBrowserDrafterClient(
        {
          draftDir: r.draftDir,
          targetVocab: r.targetVocab,
          ...(r.kind === undefined ? {} : { kind: r.kind }),
          ort: { executionProvider: o.draftProvider ?? "wasm" },
          engine: { backend: "cpu" },
        },
        { signal: r.signal },
      );
      return {
        drafter: client satisfies Drafter,
        name: client.info.name,
        maxPositions: client.info.maxPositions,
      };
    },
  };
}
