// onnxruntime-web for the ORT drafter: the package is imported lazily (only a page or process that drafts
// with ONNX pays for it), its global env is configured once (wasm threads when the page is cross-origin
// isolated, 1 in Node where a second thread was slower; wasm file locations when a bundler moved them),
// and a session is created on the wasm or WebGPU execution provider; "auto" times both on the model when
// a WebGPU adapter exists and keeps the faster. Node's build of onnxruntime-web is wasm only.

import type * as OrtNamespace from "onnxruntime-web";
import type { InferenceSession } from "onnxruntime-web";
import { EngineError } from "../errors.ts";
import { describeAdapter, pickAdapter } from "../gpu/device.ts";
import { readSignature, type OnnxSignature, type SignatureHints } from "./ort-signature.ts";
import { OrtSession } from "./ort-session.ts";

export type OrtModuleType = typeof OrtNamespace;
export type OrtExecutionProvider = "wasm" | "webgpu";
export type OrtProviderChoice = OrtExecutionProvider | "auto";

export interface OrtRuntimeOptions {
  /** wasm threads (default: up to 4 when crossOriginIsolated, else 1; 1 in Node). Set before first use. */
  numThreads?: number | undefined;
  /** Where the .wasm/.mjs files are, when a bundler does not serve them next to onnxruntime-web. */
  wasmPaths?: string | { mjs?: string; wasm?: string } | undefined;
}

export interface OrtSessionSource {
  /** The model file's bytes. */
  model: Uint8Array;
  /** External data files by the name the model refers to (e.g. "model.onnx_data"). */
  externalData?: { path: string; data: Uint8Array }[] | undefined;
  /** For error messages. */
  location: string;
  hints?: SignatureHints | undefined;
  /** When the logits' vocabulary dimension is symbolic. */
  vocabSize?: number | undefined;
}

/** Per-token time of each provider measured by "auto" (undefined: not tried). */
export interface OrtProbe {
  wasmMsPerRun?: number | undefined;
  webgpuMsPerRun?: number | undefined;
  adapter?: string | undefined;
}

let loaded: Promise<OrtModuleType> | undefined;

export function isNodeRuntime(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

/** The onnxruntime-web module with its env configured (the first call's options win). */
export function loadOrt(options: OrtRuntimeOptions = {}): Promise<OrtModuleType> {
  loaded ??= import("onnxruntime-web").then((ort) => {
    ort.env.logLevel = "error";
    const g = globalThis as {
      crossOriginIsolated?: boolean;
      navigator?: { hardwareConcurrency?: number };
    };
    const isolatedThreads =
      g.crossOriginIsolated === true ? Math.min(4, g.navigator?.hardwareConcurrency ?? 1) : 1;
    ort.env.wasm.numThreads = options.numThreads ?? (isNodeRuntime() ? 1 : isolatedThreads);
    if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
    return ort;
  });
  return loaded;
}

/** Creates a draft session on `choice`; "auto" measures wasm and WebGPU when an adapter exists. */
export async function createOrtSession(
  source: OrtSessionSource,
  choice: OrtProviderChoice,
  runtime: OrtRuntimeOptions = {},
  onProbe?: (probe: OrtProbe) => void,
): Promise<OrtSession> {
  const ort = await loadOrt(runtime);
  if (choice === "wasm") return open(ort, source, "wasm");
  const adapter = isNodeRuntime() ? null : await webGpuAdapter(ort);
  if (choice === "webgpu") return open(ort, source, "webgpu");
  if (adapter === null) return open(ort, source, "wasm");
  const wasm = await open(ort, source, "wasm");
  let webgpu: OrtSession | undefined;
  try {
    webgpu = await open(ort, source, "webgpu");
  } catch {
    onProbe?.({ adapter });
    return wasm;
  }
  const probe: OrtProbe = {
    wasmMsPerRun: await timeRuns(wasm),
    webgpuMsPerRun: await timeRuns(webgpu),
    adapter,
  };
  onProbe?.(probe);
  const keepWebGpu = (probe.webgpuMsPerRun ?? Infinity) < (probe.wasmMsPerRun ?? Infinity);
  await (keepWebGpu ? wasm : webgpu).release();
  return keepWebGpu ? webgpu : wasm;
}

async function open(
  ort: OrtModuleType,
  source: OrtSessionSource,
  provider: OrtExecutionProvider,
): Promise<OrtSession> {
  const options: InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: "all",
    // Errors only: node-placement notes of the WebGPU provider would reach the console as errors.
    logSeverityLevel: 3,
  };
  if (source.externalData !== undefined) options.externalData = source.externalData;
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(source.model, options);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const hint =
      provider === "webgpu" && isNodeRuntime()
        ? " (onnxruntime-web's Node build has no WebGPU: use wasm)"
        : "";
    throw new EngineError(
      "ERR_ONNX",
      `onnxruntime-web (${provider}) cannot load ${source.location}: ${why}${hint}`,
      { cause: e },
    );
  }
  let sig: OnnxSignature;
  try {
    sig = readSignature(
      session.inputMetadata,
      session.outputMetadata,
      source.location,
      source.hints,
    );
  } catch (e) {
    await session.release();
    throw e;
  }
  const vocab = sig.vocabSize ?? source.vocabSize;
  if (vocab === undefined) {
    await session.release();
    throw new EngineError(
      "ERR_ONNX",
      `${source.location}: the logits' vocabulary dimension is symbolic and there is no config.json vocab_size`,
    );
  }
  if (source.vocabSize !== undefined && vocab !== source.vocabSize) {
    await session.release();
    throw new EngineError(
      "ERR_ONNX",
      `${source.location}: logits have ${vocab} entries but config.json says vocab_size ${source.vocabSize}`,
    );
  }
  return new OrtSession(ort, session, sig, vocab, provider);
}

let chosenAdapter: Promise<string | null> | undefined;

/**
 * The adapter onnxruntime's WebGPU provider uses, picked once in the engine's order (a real GPU, then a
 * non-fallback compatibility adapter such as llvmpipe, then SwiftShader), or null when there is none.
 */
function webGpuAdapter(ort: OrtModuleType): Promise<string | null> {
  chosenAdapter ??= (async () => {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (gpu === undefined) return null;
    const picked = await pickAdapter(gpu, "navigator.gpu");
    if (picked === null) return null;
    ort.env.webgpu.adapter = picked.adapter;
    return describeAdapter(picked.summary);
  })();
  return chosenAdapter;
}

/** Median ms of a one-token run after a 16-token past (after two warm-up runs). */
async function timeRuns(session: OrtSession, runs = 5): Promise<number> {
  const { layers, kvHeads, headDim } = session.info;
  const pastLength = 16;
  const past = Array.from(
    { length: 2 * layers },
    () => new Float32Array(kvHeads * pastLength * headDim),
  );
  const input = { rows: 1, steps: 1, pastLength, tokens: Int32Array.of(0), past };
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    await session.run(input);
    if (i >= 2) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Infinity;
}
