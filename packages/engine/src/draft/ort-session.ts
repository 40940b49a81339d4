// DraftSession: one forward pass of a causal LM over a batch of token rows that share a past length, with
// the past K/V given and the present K/V returned (the contract the ORT drafter runs on; tests plug in an
// exact fake). OrtSession implements it on an onnxruntime-web InferenceSession whose inputs and outputs
// readSignature() accepted. Does not choose execution providers or read files (ort-load.ts does).

import type { InferenceSession, Tensor } from "onnxruntime-web";
import { EngineError } from "../errors.ts";
import type { KvShape } from "./ort-kv.ts";
import type { OnnxIntType, OnnxSignature } from "./ort-signature.ts";

export interface DraftRunInput {
  rows: number;
  /** New tokens per row. */
  steps: number;
  /** Cached positions per row; the new tokens take positions pastLength .. pastLength + steps - 1. */
  pastLength: number;
  /** [rows, steps] */
  tokens: Int32Array;
  /** 2 per layer (key, value), each [rows, kvHeads, pastLength, headDim]. */
  past: readonly Float32Array[];
}

export interface DraftRunOutput {
  /** [rows, steps, vocab] */
  logits: Float32Array;
  /** 2 per layer, each [rows, kvHeads, pastLength + steps, headDim]. */
  present: Float32Array[];
}

export interface DraftSessionInfo extends KvShape {
  vocabSize: number;
  /** "wasm", "webgpu", or a test double's name. */
  executionProvider: string;
}

export interface DraftSession {
  readonly info: DraftSessionInfo;
  run(input: DraftRunInput): Promise<DraftRunOutput>;
  /** Idempotent. */
  release(): Promise<void>;
}

/** The onnxruntime-web module as OrtSession needs it (injected: the package is loaded lazily). */
export interface OrtModule {
  Tensor: typeof Tensor;
}

export class OrtSession implements DraftSession {
  readonly info: DraftSessionInfo;
  readonly #ort: OrtModule;
  readonly #session: InferenceSession;
  readonly #sig: OnnxSignature;
  #released = false;

  constructor(
    ort: OrtModule,
    session: InferenceSession,
    signature: OnnxSignature,
    vocabSize: number,
    executionProvider: string,
  ) {
    this.#ort = ort;
    this.#session = session;
    this.#sig = signature;
    const { layers, kvHeads, headDim } = signature;
    this.info = { layers, kvHeads, headDim, vocabSize, executionProvider };
  }

  async run(input: DraftRunInput): Promise<DraftRunOutput> {
    if (this.#released) throw new EngineError("ERR_DESTROYED", "the ONNX session was released");
    const { rows, steps, pastLength } = input;
    const { kvHeads, headDim, vocabSize } = this.info;
    const sig = this.#sig;
    const T = this.#ort.Tensor;
    const total = pastLength + steps;
    const feeds: Record<string, Tensor> = {
      input_ids: intTensor(T, sig.idsType, input.tokens, [rows, steps]),
      attention_mask: intTensor(T, sig.maskType, new Int32Array(rows * total).fill(1), [
        rows,
        total,
      ]),
    };
    if (sig.positionIdsType !== undefined) {
      const pos = new Int32Array(rows * steps);
      for (let i = 0; i < pos.length; i++) pos[i] = pastLength + (i % steps);
      feeds["position_ids"] = intTensor(T, sig.positionIdsType, pos, [rows, steps]);
    }
    if (sig.useCacheBranch) feeds["use_cache_branch"] = new T("bool", [pastLength > 0], [1]);
    if (sig.logitsToKeep !== undefined) {
      feeds[sig.logitsToKeep] = new T("int64", BigInt64Array.of(BigInt(steps)), []);
    }
    sig.pastNames.forEach((name, i) => {
      const data = input.past[i];
      if (data === undefined) throw new EngineError("ERR_INTERNAL", `no past for ${name}`);
      feeds[name] = new T("float32", data, [rows, kvHeads, pastLength, headDim]);
    });
    let out: InferenceSession.ReturnType;
    try {
      out = await this.#session.run(feeds);
    } catch (e) {
      throw new EngineError(
        "ERR_ONNX",
        `onnxruntime-web failed to run the draft model: ${msg(e)}`,
        {
          cause: e,
        },
      );
    }
    const logits = floatOutput(out, "logits", rows * steps * vocabSize);
    const present = sig.presentNames.map((name) =>
      floatOutput(out, name, rows * kvHeads * total * headDim),
    );
    return { logits, present };
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#session.release();
  }
}

function intTensor(
  T: typeof Tensor,
  type: OnnxIntType,
  values: Int32Array,
  dims: number[],
): Tensor {
  if (type === "int32") return new T("int32", values, dims);
  return new T(
    "int64",
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

function floatOutput(out: InferenceSession.ReturnType, name: string, size: number): Float32Array {
  const data = out[name]?.data;
  if (!(data instanceof Float32Array) || data.length !== size) {
    throw new EngineError(
      "ERR_ONNX",
      `output ${name} has ${data instanceof Float32Array ? data.length : "no float32"} values, ${size} expected`,
    );
  }
  return data;
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
