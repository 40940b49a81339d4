// Entry of the drafter harness page: exposes window.drafterHarness for page.evaluate. Each call starts a
// drafter in its own Web Worker (createBrowserDrafterClient: the ORT drafter on wasm or WebGPU, or the
// engine drafter), asks it the given batches of contexts, and returns the predictions as plain arrays.
// Also times the bench:draft scenarios in the browser. Test-only.

// Imported here so Vite pre-bundles onnxruntime-web when the server starts; discovered later (in the
// drafter worker) it would re-optimize mid-test and answer stale modules with 504.
import "onnxruntime-web";
import type { DraftModel, DraftPrediction } from "../../../src/draft/draft-model.ts";
import type { DrafterKind } from "../../../src/draft/load-drafter.ts";
import type { OrtProviderChoice } from "../../../src/draft/ort-runtime.ts";
import type { DrafterInfo } from "../../../src/worker/drafter-api.ts";
import { createBrowserDrafterClient } from "../../../src/worker/spawn-browser-drafter.ts";
import { measureDraftScenarios, type DraftRates, type MeasureOptions } from "../draft-scenarios.ts";

export interface DraftRequest {
  /** URL of the draft model directory. */
  draftDir: string;
  kind: DrafterKind;
  executionProvider?: OrtProviderChoice | undefined;
  /** Each batch is one predict call; accepted[i] (when set) is accepted before batch i. */
  batches: number[][][];
  accepted?: (number[] | null)[] | undefined;
  topK: number;
  wantProbs: boolean;
}

export interface PlainPrediction {
  topIds: number[];
  topProbs: number[];
  probs?: number[] | undefined;
}

export interface DraftReport {
  info: DrafterInfo;
  crossOriginIsolated: boolean;
  predictions: PlainPrediction[][];
}

const plain = (p: DraftPrediction): PlainPrediction => ({
  topIds: Array.from(p.topIds),
  topProbs: Array.from(p.topProbs),
  probs: p.probs === undefined ? undefined : Array.from(p.probs),
});

async function draft(req: DraftRequest): Promise<DraftReport> {
  const client = await createBrowserDrafterClient({
    draftDir: req.draftDir,
    kind: req.kind,
    ort: { executionProvider: req.executionProvider ?? "wasm" },
  });
  try {
    const predictions: PlainPrediction[][] = [];
    for (const [i, batch] of req.batches.entries()) {
      const accepted = req.accepted?.[i];
      if (accepted !== undefined && accepted !== null)
        await client.accept(Int32Array.from(accepted));
      const preds = await client.predict(
        batch.map((c) => Int32Array.from(c)),
        { topK: req.topK, wantProbs: req.wantProbs },
      );
      predictions.push(preds.map(plain));
    }
    return { info: client.info, crossOriginIsolated, predictions };
  } finally {
    await client.destroy();
  }
}

export interface BenchRequest extends MeasureOptions {
  draftDir: string;
  kind: DrafterKind;
  executionProvider?: OrtProviderChoice | undefined;
  engineBackend?: "cpu" | "webgpu" | undefined;
}

async function benchDraft(req: BenchRequest): Promise<{ info: DrafterInfo; rates: DraftRates }> {
  const client = await createBrowserDrafterClient({
    draftDir: req.draftDir,
    kind: req.kind,
    ort: { executionProvider: req.executionProvider ?? "wasm" },
    engine: { backend: req.engineBackend ?? "cpu" },
  });
  try {
    const model: DraftModel = client;
    return { info: client.info, rates: await measureDraftScenarios(model, req) };
  } finally {
    await client.destroy();
  }
}

const drafterHarness = { draft, benchDraft };
export type DrafterHarness = typeof drafterHarness;
(globalThis as unknown as { drafterHarness: DrafterHarness }).drafterHarness = drafterHarness;
document.getElementById("status")!.textContent = "ready";
