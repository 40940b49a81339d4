// What the ORT drafter needs of an ONNX causal LM, checked from the session's input/output metadata: the
// names of tools/train-default-model/export.py and Hugging Face onnx-community / Optimum exports
// (input_ids, attention_mask, optional position_ids, past_key_values.{i}.key/value [batch, kvHeads, past,
// headDim] -> logits [batch, seq, vocab], present.{i}.key/value), float32 KV and logits. Anything else is
// ERR_ONNX naming the input or output at fault. Pure; no onnxruntime calls.

import { EngineError } from "../errors.ts";
import type { KvShape } from "./ort-kv.ts";

/** The part of onnxruntime's InferenceSession.ValueMetadata this module reads. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

export type OnnxIntType = "int64" | "int32";

export interface OnnxSignature extends KvShape {
  /** From the logits' last dimension when static, else undefined (config.json then decides). */
  vocabSize: number | undefined;
  idsType: OnnxIntType;
  maskType: OnnxIntType;
  /** Undefined when the model derives positions from attention_mask itself. */
  positionIdsType: OnnxIntType | undefined;
  /** Optimum merged decoders: a bool input that must be true when a past is given. */
  useCacheBranch: boolean;
  /** transformers.js exports: how many trailing positions get logits (int64 scalar). */
  logitsToKeep: string | undefined;
  /** past_key_values.{i}.key, past_key_values.{i}.value, ... (2 per layer). */
  pastNames: string[];
  /** present.{i}.key, present.{i}.value, ... in the same order. */
  presentNames: string[];
}

/** Facts from config.json that fill in symbolic dimensions (onnx-community exports leave few). */
export interface SignatureHints {
  kvHeads?: number | undefined;
  headDim?: number | undefined;
}

export const REQUIRED_IO =
  "an ONNX draft needs inputs input_ids, attention_mask and past_key_values.{i}.key/value " +
  "[batch, kv_heads, past, head_dim] and outputs logits and present.{i}.key/value (float32), as " +
  "tools/train-default-model/export.py and onnx-community exports write them";

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const LOGITS_TO_KEEP = ["num_logits_to_keep", "logits_to_keep"];

export function readSignature(
  inputs: readonly OnnxValueInfo[],
  outputs: readonly OnnxValueInfo[],
  location: string,
  hints: SignatureHints = {},
): OnnxSignature {
  const fail = (what: string): never => {
    throw new EngineError("ERR_ONNX", `${location}: ${what}; ${REQUIRED_IO}`);
  };
  const inputByName = new Map(inputs.map((v) => [v.name, v]));
  const outputByName = new Map(outputs.map((v) => [v.name, v]));
  const intType = (name: string, required: boolean): OnnxIntType | undefined => {
    const v = inputByName.get(name);
    if (v === undefined) return required ? fail(`the model has no input ${name}`) : undefined;
    if (v.type !== "int64" && v.type !== "int32") {
      return fail(`input ${name} is ${v.type ?? "not a tensor"}, not int64 or int32`);
    }
    return v.type;
  };
  let layers = 0;
  for (const v of inputs) {
    const m = PAST.exec(v.name);
    if (m !== null) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (layers === 0) fail("the model has no input past_key_values.0.key (no KV cache)");
  const pastNames: string[] = [];
  const presentNames: string[] = [];
  for (let i = 0; i < layers; i++) {
    for (const kv of ["key", "value"]) {
      pastNames.push(`past_key_values.${i}.${kv}`);
      presentNames.push(`present.${i}.${kv}`);
    }
  }
  for (const name of pastNames) if (!inputByName.has(name)) fail(`the model has no input ${name}`);
  const idsType = intType("input_ids", true) ?? "int64";
  const maskType = intType("attention_mask", true) ?? "int64";
  const positionIdsType = intType("position_ids", false);
  for (const name of ["logits", ...presentNames]) {
    if (!outputByName.has(name)) fail(`the model has no output ${name}`);
  }
  const known = new Set([
    "input_ids",
    "attention_mask",
    "position_ids",
    "use_cache_branch",
    ...LOGITS_TO_KEEP,
    ...pastNames,
  ]);
  for (const v of inputs) if (!known.has(v.name)) fail(`unsupported input ${v.name}`);

  const past0 = inputByName.get("past_key_values.0.key");
  const dim = (i: number, hint: number | undefined, what: string): number => {
    const d = past0?.shape?.[i];
    if (typeof d === "number" && d > 0) return d;
    if (hint !== undefined && hint > 0) return hint;
    return fail(`past_key_values.0.key has no static ${what} dimension and config.json gives none`);
  };
  const kvHeads = dim(1, hints.kvHeads, "kv_heads");
  const headDim = dim(3, hints.headDim, "head_dim");
  for (const name of pastNames) {
    const v = inputByName.get(name);
    if (v?.type !== "float32") fail(`input ${name} is ${v?.type ?? "not a tensor"}, not float32`);
  }
  for (const name of ["logits", ...presentNames]) {
    const v = outputByName.get(name);
    if (v?.type !== "float32") fail(`output ${name} is ${v?.type ?? "not a tensor"}, not float32`);
  }
  const vocab = outputByName.get("logits")?.shape?.[2];
  return {
    layers,
    kvHeads,
    headDim,
    vocabSize: typeof vocab === "number" && vocab > 0 ? vocab : undefined,
    idsType,
    maskType,
    positionIdsType,
    useCacheBranch: inputByName.has("use_cache_branch"),
    logitsToKeep: LOGITS_TO_KEEP.find((n) => inputByName.has(n)),
    pastNames,
    presentNames,
  };
}
