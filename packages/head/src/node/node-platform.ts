// Node's HeadPlatform: model locations are paths or URLs (openModelDir), and the draft model runs in this
// process (onnxruntime-web on wasm, or the engine drafter on the CPU backend).

import { loadDrafter } from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import type { Drafter } from "@pipemesh/mesh";
import type { HeadPlatform } from "../platform.ts";

export const nodePlatform: HeadPlatform = {
  openModelDir,
  async loadDrafter(r) {
    const loaded = await loadDrafter({
      draftDir: r.draftDir,
      kind: r.kind,
      targetVocab: r.targetVocab,
      openDir: openModelDir,
      signal: r.signal,
      // Node's onnxruntime-web is wasm only; the engine drafter runs on the CPU backend in this process.
      ort: { executionProvider: "wasm" },
      engine: { backend: "cpu" },
    });
    return {
      drafter: loaded.drafter satisfies Drafter,
      name: loaded.name,
      maxPositions: loaded.maxPositions,
    };
  },
};
