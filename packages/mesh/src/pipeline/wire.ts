// Conversions between pipeline values (RunHeader + typed arrays, StageRowOutput) and peer messages with
// binary bodies. Validates what it decodes (row counts, body sizes, finite activations) and throws MeshError
// ERR_FRAME / ERR_PROTOCOL_DECODE / ERR_NONFINITE, so a stage never hands a malformed batch to its runner.

import { MeshError } from "../errors.ts";
import type { RunOutcome, StageRowOutput, StageTimesMs } from "../ports.ts";
import { bytesPerElement, decodeTensor, encodeTensor, FrameError } from "../protocol/frame.ts";
import type { PeerMessage, Unversioned, WireDtype, WireRowOutput } from "../protocol/messages.ts";
import { checkFinite } from "./finite.ts";
import type { RunHeader, StageInput } from "./stage-core.ts";

type RunMsg = Extract<PeerMessage, { type: "run" }>;
type ResultMsg = Extract<PeerMessage, { type: "result" }>;

function frameError(e: unknown): MeshError {
  if (e instanceof MeshError) return e;
  return new MeshError(
    e instanceof FrameError ? e.code : "ERR_PROTOCOL_DECODE",
    e instanceof Error ? e.message : String(e),
    {
      cause: e,
    },
  );
}

/** A run header + hidden states [rows, cols] -> message + body. */
export function encodeRun(
  header: RunHeader,
  hidden: Float32Array,
  dtype: WireDtype,
): { msg: Unversioned<RunMsg>; body: Uint8Array } {
  const rows = header.positions.length;
  if (rows === 0 || hidden.length % rows !== 0) {
    throw new MeshError(
      "ERR_STAGE_FAILED",
      `hidden states of ${hidden.length} values do not split into ${rows} rows`,
    );
  }
  const msg: Unversioned<RunMsg> = {
    type: "run",
    runId: header.runId,
    kind: header.kind,
    rows,
    cols: hidden.length / rows,
    dtype,
    positions: Array.from(header.positions),
    seqIds: header.seqIds.map((s) => [...s]),
    outputRows: Array.from(header.outputRows),
    stageComputeMs: header.stageComputeMs,
    ...(header.logitsRows === undefined ? {} : { logitsRows: Array.from(header.logitsRows) }),
    ...(header.topK === undefined ? {} : { topK: header.topK }),
    ...(header.stageTimesMs === undefined ? {} : { stageTimesMs: header.stageTimesMs }),
  };
  return { msg, body: encodeTensor(hidden, dtype) };
}

/** `from` names the sender in an ERR_NONFINITE (activations that hold NaN or infinity). */
export function decodeRun(
  msg: RunMsg,
  body: Uint8Array,
  from = "the sender",
): Extract<StageInput, { type: "run" }> {
  try {
    const hidden = decodeTensor(body, msg.dtype, msg.rows * msg.cols);
    checkFinite(hidden, `the activations of run ${msg.runId}`, from);
    const header: RunHeader = {
      runId: msg.runId,
      kind: msg.kind,
      positions: Int32Array.from(msg.positions),
      seqIds: msg.seqIds,
      outputRows: Int32Array.from(msg.outputRows),
      stageComputeMs: msg.stageComputeMs,
      ...(msg.logitsRows === undefined ? {} : { logitsRows: Int32Array.from(msg.logitsRows) }),
      ...(msg.topK === undefined ? {} : { topK: msg.topK }),
      ...(msg.stageTimesMs === undefined ? {} : { stageTimesMs: msg.stageTimesMs }),
    };
    return { type: "run", header, hidden };
  } catch (e) {
    throw frameError(e);
  }
}

/** The tail's outputs -> compact result + logits body (only rows that carry logits). */
export function encodeResult(
  runId: number,
  stageComputeMs: number,
  outputs: readonly StageRowOutput[],
  logitsDtype: WireDtype,
  stageTimesMs?: StageTimesMs,
): { msg: Unversioned<ResultMsg>; body: Uint8Array | undefined } {
  const withLogits = outputs.filter((o) => o.logits !== undefined);
  const vocab = withLogits[0]?.logits?.length;
  const wire: WireRowOutput[] = outputs.map((o) => ({
    row: o.row,
    argmax: o.argmax,
    prob: o.prob,
    topIds: Array.from(o.topIds),
    topProbs: Array.from(o.topProbs),
    ...(o.logits === undefined ? {} : { logits: true }),
  }));
  const msg: Unversioned<ResultMsg> = {
    type: "result",
    runId,
    stageComputeMs,
    ...(stageTimesMs === undefined ? {} : { stageTimesMs }),
    outputs: wire,
  };
  if (vocab === undefined) return { msg, body: undefined };
  if (withLogits.some((o) => o.logits?.length !== vocab)) {
    throw new MeshError("ERR_STAGE_FAILED", "logits rows differ in length");
  }
  const all = new Float32Array(vocab * withLogits.length);
  withLogits.forEach((o, i) => {
    if (o.logits !== undefined) all.set(o.logits, i * vocab);
  });
  return { msg: { ...msg, vocab, logitsDtype }, body: encodeTensor(all, logitsDtype) };
}

export function decodeResult(
  msg: ResultMsg,
  body: Uint8Array,
): Extract<RunOutcome, { status: "done" }> {
  try {
    const n = msg.outputs.filter((o) => o.logits === true).length;
    const vocab = msg.vocab ?? 0;
    const dtype = msg.logitsDtype ?? "f32";
    if (n === 0 && body.byteLength > 0)
      throw new FrameError("ERR_FRAME", "result body without logits rows");
    if (n > 0 && body.byteLength !== n * vocab * bytesPerElement(dtype)) {
      throw new FrameError(
        "ERR_FRAME",
        `logits body has ${body.byteLength} bytes for ${n} rows of ${vocab}`,
      );
    }
    const logits = n > 0 ? decodeTensor(body, dtype, n * vocab) : null;
    let k = 0;
    const outputs: StageRowOutput[] = msg.outputs.map((o) => {
      const out: StageRowOutput = {
        row: o.row,
        argmax: o.argmax,
        prob: o.prob,
        topIds: Int32Array.from(o.topIds),
        topProbs: Float32Array.from(o.topProbs),
      };
      if (o.logits === true && logits !== null) {
        out.logits = logits.slice(k * vocab, (k + 1) * vocab);
        k++;
      }
      return out;
    });
    return {
      runId: msg.runId,
      status: "done",
      outputs,
      stageComputeMs: msg.stageComputeMs,
      ...(msg.stageTimesMs === undefined ? {} : { stageTimesMs: msg.stageTimesMs }),
    };
  } catch (e) {
    throw frameError(e);
  }
}
