// THE wire schema of pipemesh: every message on the signaling WebSocket (SignalMessage) and on peer data
// channels (PeerMessage), the protocol version, and validating decoders. Imports nothing but types.
// Binary payloads (activations, logits) never appear here as JSON; frame.ts carries them after a header.
// Changing a field's name or meaning bumps PROTOCOL_VERSION (see CHANGELOG.md and docs/protocol.md).

import type { MeshErrorCode } from "../errors.ts";
import type { StageKvOp } from "../ports.ts";

export const PROTOCOL_VERSION = 2;
export const MIN_SUPPORTED_VERSION = 2;

/**
 * WebSocket close codes the signaling server sends (with 1001 when it shuts down). A client closed with
 * `evicted` was removed from its room on the active head's report (its last message was an `error` with
 * ERR_EVICTED naming the head's code).
 */
export const SIGNALING_CLOSE_CODES = {
  liveness: 4000,
  version: 4001,
  slowConsumer: 4002,
  evicted: 4003,
} as const;

/** Pick a version both ends speak, or null (then the link or join is refused with ERR_PROTOCOL_VERSION). */
export function negotiateVersion(
  theirV: number,
  theirMinV: number,
  ours: { v: number; minV: number } = { v: PROTOCOL_VERSION, minV: MIN_SUPPORTED_VERSION },
): number | null {
  const v = Math.min(ours.v, theirV);
  return v >= ours.minV && v >= theirMinV ? v : null;
}

// --- shared shapes ---------------------------------------------------------------------------------------

/** Model geometry the planner needs. Bytes are f32/f16 weight bytes as stored. */
export interface ModelInfo {
  id: string;
  layerCount: number;
  /** Bytes of one transformer layer (the mean when layers differ). */
  layerBytes: number;
  /**
   * Bytes of each layer as stored, when they differ (a quantized file mixes types per layer); the
   * planner then checks each range with the real sizes. Optional: absent means every layer is layerBytes.
   */
  layerSizes?: number[] | undefined;
  /**
   * Tokens of context every stage sizes its K/V cache for (the sizes above include that K/V); absent: the
   * peers' default for the model.
   */
  contextLength?: number | undefined;
  /**
   * K/V bytes per token of context per layer: with it the room may plan a shorter context than
   * contextLength when the members' memory cannot hold the whole one (the plan then names it).
   */
  kvBytesPerToken?: number | undefined;
  /** Token embeddings (held by the head). */
  embedBytes: number;
  /** Final norm + LM head (held by the tail). */
  headBytes: number;
  /** Where the model's files are (absent: the room's server, under /models/<id>). */
  source?: ModelSource | undefined;
  /** The room's draft model, for heads (absent: none, or the app's own for a known model). */
  draft?: { id: string; source: ModelSource } | undefined;
  /**
   * The largest peer message this model's runs and results need (modelMessageBytes in frame.ts, from the
   * model's hidden and vocabulary sizes), written by the server; the room's links cap reassembly at it.
   * Absent: the links' default (256 MiB).
   */
  maxMessageBytes?: number | undefined;
}

/** A model's files as peers fetch and verify them. */
export interface ModelSource {
  format: "safetensors" | "gguf";
  /**
   * A directory's base URL (ending in "/") or the .gguf file's URL; an absolute http(s) URL, or a path on
   * the room's server (starting with "/"), e.g. a pass-through for files that need a token.
   */
  url: string;
  /** The files a peer may read: name (relative to a directory, or the file's name), size and sha256. */
  files: ModelSourceFile[];
  /** A Hub commit the files were pinned to, when the source has one. */
  revision?: string | undefined;
}

export interface ModelSourceFile {
  name: string;
  size: number;
  /** Lowercase hex, when the source provides one (the Hub's LFS hash, a manifest). */
  sha256?: string | undefined;
}

export interface AdapterInfo {
  description: string;
  limits: Record<string, number>;
}

export interface PeerCapabilities {
  platform: "browser" | "node";
  adapter: AdapterInfo;
  /** User-set memory budget for weights + KV cache; defaults from adapter limits. */
  memoryBudgetBytes: number;
  /** Measured matmul speed (GFLOP/s); the planner sizes ranges in proportion to it. */
  matmulGflops: number;
  /**
   * What the peer holds in its cache, per model id: files, and the layer range it loaded last (the
   * planner gives a returning peer the layers it already has where it can).
   */
  models: { modelId: string; files: string[]; layers?: LayerRange | undefined }[];
  name?: string | undefined;
}

export type PeerRole = "head" | "stage";

export interface LayerRange {
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
}

export interface PlanStage extends LayerRange {
  peerId: string;
}

/** A versioned pipeline plan. With a head, stages[0] is the head (embeddings, maybe the first layers). */
export interface PipelinePlan {
  version: number;
  modelId: string;
  layerCount: number;
  headId: string | null;
  /** The room model's context length, when it names one (stages size their K/V for it). */
  contextLength?: number | undefined;
  /** Where stages fetch the model's files (the room model's source.url), when not the room's server. */
  modelUrl?: string | undefined;
  stages: PlanStage[];
  /** Members that hold no layers in this plan (more peers than layers, or no usable budget). */
  idle: string[];
  /**
   * Idle members standing by (v2, optional): each entry is the range of one non-head stage that its
   * member would take over were that stage lost, and preloads (reporting it with `ready`) without
   * serving. At most one standby per stage and per member; absent when there is none.
   */
  standby?: PlanStage[] | undefined;
}

/** A loaded layer range with what it holds on its device (both optional: older peers omit them). */
export interface LoadedRange extends LayerRange {
  /** Bytes of the weight buffers on the stage's device (no KV, activations or scratch). */
  weightBytes?: number | undefined;
  /** Bytes of the stage's KV cache. */
  kvBytes?: number | undefined;
}

export interface MemberInfo {
  peerId: string;
  role: PeerRole;
  caps: PeerCapabilities;
  /** The layer range this member reports loaded (null before its first `ready`). */
  loaded: LoadedRange | null;
}

export interface RoomState {
  roomId: string;
  model: ModelInfo;
  members: MemberInfo[];
  plan: PipelinePlan | null;
  /** Why there is no plan (ERR_PLAN_IMPOSSIBLE), else null. */
  planError: { code: string; message: string } | null;
  /** Every stage of `plan` has loaded its range. */
  ready: boolean;
  /** The head whose generation runs now. */
  active: string | null;
  /** Heads waiting for a generation slot, in order. */
  queue: string[];
}

export interface IceServer {
  urls: string | string[];
  username?: string | undefined;
  credential?: string | undefined;
}

/** WebRTC signaling payloads as simple-peer emits them. */
export type RtcSignal =
  | { type: "offer" | "answer"; sdp: string }
  | {
      type: "candidate";
      candidate: { candidate: string; sdpMLineIndex?: number | null; sdpMid?: string | null };
    }
  | { type: "renegotiate"; renegotiate: true };

// --- signaling: client <-> server (JSON text on the WebSocket) ---------------------------------------------

export type SignalMessage =
  /** `token`: the server's create token, when it requires one (additive in v1). */
  | { type: "create"; v: number; model: ModelInfo; token?: string | undefined }
  | { type: "created"; v: number; roomId: string; secret: string }
  | {
      type: "join";
      v: number;
      minV: number;
      roomId: string;
      secret: string;
      role: PeerRole;
      caps: PeerCapabilities;
    }
  | {
      type: "joined";
      v: number;
      peerId: string;
      state: RoomState;
      iceServers: IceServer[];
      heartbeatMs: number;
      livenessTimeoutMs: number;
    }
  | { type: "caps"; v: number; caps: PeerCapabilities }
  | {
      type: "ready";
      v: number;
      layerStart: number;
      layerEnd: number;
      weightBytes?: number | undefined;
      kvBytes?: number | undefined;
    }
  | { type: "request"; v: number }
  | { type: "queued"; v: number; position: number }
  | { type: "granted"; v: number; planVersion: number }
  | { type: "release"; v: number }
  | { type: "leave"; v: number }
  /**
   * The active head reports a stage of its plan that failed it (`code`: ERR_PEER_LOST, ERR_NONFINITE,
   * ERR_RESULT_INVALID, ...): the server evicts that member and repairs the plan (v2, additive).
   */
  | { type: "report"; v: number; peerId: string; code: string; message: string }
  | { type: "state"; v: number; state: RoomState }
  /** Client -> server: `to` set; server -> client: `from` set. */
  | {
      type: "signal";
      v: number;
      to?: string | undefined;
      from?: string | undefined;
      connId: string;
      data: RtcSignal;
    }
  | { type: "ping"; v: number; t: number }
  | { type: "pong"; v: number; t: number }
  | { type: "error"; v: number; code: string; message: string; ref?: string | undefined };

// --- peer: data channels (JSON header in a binary frame, optional binary body) ----------------------------

export type RunKind = "canonical" | "speculative" | "prefill";
export type WireDtype = "f32" | "f16";

/** One output row at the tail. `logits` tells whether the row's logits follow in the body. */
export interface WireRowOutput {
  row: number;
  argmax: number;
  prob: number;
  topIds: number[];
  topProbs: number[];
  logits?: boolean | undefined;
}

export type PeerMessage =
  /**
   * `credit` (v2, optional): this end honours run credit (`ping.credit`) on the runs it sends and grants it
   * on the runs it receives. Peers without it send runs unmetered and are sent no credit.
   */
  | { type: "hello"; v: number; minV: number; peerId: string; credit?: boolean | undefined }
  /** Body: hidden states [rows, cols] in `dtype`. */
  | {
      type: "run";
      v: number;
      runId: number;
      kind: RunKind;
      rows: number;
      cols: number;
      dtype: WireDtype;
      positions: number[];
      seqIds: number[][];
      outputRows: number[];
      logitsRows?: number[] | undefined;
      topK?: number | undefined;
      /** Compute time spent on this run by the stages it already passed. */
      stageComputeMs: number;
      /** Optional (pipeline view): [waitMs, computeMs] per stage passed, in order; see StageTimesMs. */
      stageTimesMs?: number[] | undefined;
    }
  | { type: "kv"; v: number; op: StageKvOp }
  | { type: "cancel"; v: number; runIds: number[] }
  | {
      type: "skip";
      v: number;
      runId: number;
      stageComputeMs: number;
      stageTimesMs?: number[] | undefined;
    }
  /** Body: the logits of rows with `logits: true`, in output order, each [vocab] in `logitsDtype`. */
  | {
      type: "result";
      v: number;
      runId: number;
      stageComputeMs: number;
      stageTimesMs?: number[] | undefined;
      outputs: WireRowOutput[];
      vocab?: number | undefined;
      logitsDtype?: WireDtype | undefined;
    }
  /** `credit` (v2, optional; only to a peer whose hello had `credit`): see RunCredit. */
  | { type: "ping"; v: number; t: number; credit?: RunCredit | undefined }
  | { type: "pong"; v: number; t: number }
  | { type: "bye"; v: number; reason?: string | undefined }
  | {
      type: "error";
      v: number;
      code: string;
      message: string;
      runId?: number | undefined;
      peerId?: string | undefined;
    };

/**
 * A receiver's run window on one link (v2, optional on `ping`): it has finished with `done` runs of
 * `doneBytes` body bytes since the link opened, and takes up to `runs` runs and `bytes` body bytes beyond
 * those. The sender sends a run only while its unfinished runs stay inside the window (a run larger than
 * `bytes` only when none is unfinished); kv, skip, cancel and other messages are never metered.
 */
export interface RunCredit {
  done: number;
  doneBytes: number;
  runs: number;
  bytes: number;
}

export type SignalType = SignalMessage["type"];
export type PeerType = PeerMessage["type"];
/** A message without its version field: what senders build (the transport stamps `v`). */
export type Unversioned<M> = M extends unknown ? Omit<M, "v"> : never;

export interface ProtocolError {
  code: MeshErrorCode;
  message: string;
}
export type Decoded<M> = { ok: true; msg: M } | { ok: false; error: ProtocolError };

// --- validation helpers (no casts: every field is checked and copied) --------------------------------------

const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
/** The smallest message cap a model descriptor may set (control messages must always fit). */
const MIN_MESSAGE_CAP = 64 * 1024;
const MAX_ARRAY = 1 << 20;

class Invalid extends Error {
  readonly code: MeshErrorCode;
  constructor(code: MeshErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function fail(message: string): never {
  throw new Invalid("ERR_PROTOCOL_DECODE", message);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function rec(x: unknown, at: string): Record<string, unknown> {
  if (!isRecord(x)) fail(`${at}: expected an object`);
  return x;
}

function int(
  o: Record<string, unknown>,
  k: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const x = o[k];
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
    fail(`${k}: expected an integer in [${min}, ${max}]`);
  }
  return x;
}

function optInt(
  o: Record<string, unknown>,
  k: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  return o[k] === undefined ? undefined : int(o, k, min, max);
}

function num(o: Record<string, unknown>, k: string, min = -Infinity, max = Infinity): number {
  const x = o[k];
  if (typeof x !== "number" || !Number.isFinite(x) || x < min || x > max) {
    fail(`${k}: expected a finite number in [${min}, ${max}]`);
  }
  return x;
}

function str(o: Record<string, unknown>, k: string, maxLen = 1024): string {
  const x = o[k];
  if (typeof x !== "string" || x.length > maxLen)
    fail(`${k}: expected a string of <= ${maxLen} chars`);
  return x;
}

function id(o: Record<string, unknown>, k: string): string {
  const x = str(o, k, 128);
  if (!ID_RE.test(x)) fail(`${k}: not a valid id`);
  return x;
}

/**
 * A model id: the model's directory under the server's /models/, so one or more id segments joined by
 * "/" (e.g. "pipemesh-tiny/target"); never absolute, never "." or "..".
 */
const MODEL_ID_RE = /^[A-Za-z0-9_.:-]+(?:\/[A-Za-z0-9_.:-]+)*$/;

function modelId(o: Record<string, unknown>, k: string): string {
  const x = str(o, k, 256);
  if (!MODEL_ID_RE.test(x) || x.split("/").some((s) => s === "." || s === ".."))
    fail(`${k}: not a valid model id`);
  return x;
}

function optStr(o: Record<string, unknown>, k: string, maxLen = 1024): string | undefined {
  return o[k] === undefined ? undefined : str(o, k, maxLen);
}

function oneOf<T extends string>(o: Record<string, unknown>, k: string, values: readonly T[]): T {
  const x = o[k];
  const hit = values.find((v) => v === x);
  if (hit === undefined) fail(`${k}: expected one of ${values.join(", ")}`);
  return hit;
}

function arr(o: Record<string, unknown>, k: string, maxLen = MAX_ARRAY): unknown[] {
  const x = o[k];
  if (!Array.isArray(x) || x.length > maxLen) fail(`${k}: expected an array of <= ${maxLen} items`);
  return x;
}

function intArr(o: Record<string, unknown>, k: string, min = 0, max = 0x7fffffff): number[] {
  return arr(o, k).map((x, i) => {
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max)
      fail(`${k}[${i}]: bad integer`);
    return x;
  });
}

function numArr(o: Record<string, unknown>, k: string): number[] {
  return arr(o, k).map((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x)) fail(`${k}[${i}]: bad number`);
    return x;
  });
}

/** Stages' [waitMs, computeMs] pairs (optional): non-negative finite numbers, an even count. */
function optStageTimes(o: Record<string, unknown>): number[] | undefined {
  if (o["stageTimesMs"] === undefined) return undefined;
  const t = arr(o, "stageTimesMs", 2 * 4096).map((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0)
      fail(`stageTimesMs[${i}]: bad duration`);
    return x;
  });
  if (t.length % 2 !== 0) fail("stageTimesMs: expected [waitMs, computeMs] pairs");
  return t;
}

function strArr(o: Record<string, unknown>, k: string, maxLen = 4096): string[] {
  return arr(o, k, maxLen).map((x, i) => {
    if (typeof x !== "string" || x.length > 1024) fail(`${k}[${i}]: bad string`);
    return x;
  });
}

function idArr(o: Record<string, unknown>, k: string): string[] {
  return strArr(o, k).map((x) => {
    if (!ID_RE.test(x)) fail(`${k}: not a valid id`);
    return x;
  });
}

function version(o: Record<string, unknown>, negotiating: boolean): number {
  const v = int(o, "v", 0, 0xffff);
  if (!negotiating && (v < MIN_SUPPORTED_VERSION || v > PROTOCOL_VERSION)) {
    throw new Invalid(
      "ERR_PROTOCOL_VERSION",
      `protocol v${v} is not supported (v${MIN_SUPPORTED_VERSION}..v${PROTOCOL_VERSION})`,
    );
  }
  return v;
}

// Codes are checked for shape only: a newer peer may send codes this version does not know. Receivers
// narrow them with toMeshErrorCode (errors.ts).
function errorCode(o: Record<string, unknown>): string {
  const c = str(o, "code", 64);
  if (!/^ERR_[A-Z0-9_]+$/.test(c)) fail("code: not an error code");
  return c;
}

/** A reported failure's code: a shorter error code (the server quotes it in ERR_EVICTED's message). */
function reportCode(o: Record<string, unknown>): string {
  const c = str(o, "code", 44);
  if (!/^ERR_[A-Z0-9_]{1,40}$/.test(c)) fail("code: not an error code");
  return c;
}

function modelInfo(x: unknown): ModelInfo {
  const o = rec(x, "model");
  const layerCount = int(o, "layerCount", 1, 100_000);
  const info: ModelInfo = {
    id: modelId(o, "id"),
    layerCount,
    layerBytes: num(o, "layerBytes", 0),
    embedBytes: num(o, "embedBytes", 0),
    headBytes: num(o, "headBytes", 0),
  };
  if (o["contextLength"] !== undefined) info.contextLength = int(o, "contextLength", 1, 1 << 24);
  if (o["maxMessageBytes"] !== undefined)
    info.maxMessageBytes = int(o, "maxMessageBytes", MIN_MESSAGE_CAP, 0xffffffff);
  if (o["layerSizes"] !== undefined) {
    const sizes = arr(o, "layerSizes", 100_000);
    if (sizes.length !== layerCount) fail("layerSizes: one entry per layer expected");
    info.layerSizes = sizes.map((b, i) => num({ [i]: b }, String(i), 0));
  }
  if (o["source"] !== undefined) info.source = modelSource(o["source"], "model.source");
  if (o["draft"] !== undefined) {
    const d = rec(o["draft"], "model.draft");
    info.draft = { id: modelId(d, "id"), source: modelSource(d["source"], "model.draft.source") };
  }
  return info;
}

function modelSource(x: unknown, what: string): ModelSource {
  const o = rec(x, what);
  const format = str(o, "format", 16);
  if (format !== "safetensors" && format !== "gguf") fail(`${what}.format: unknown format`);
  const url = str(o, "url", 2048);
  if (!/^(https?:\/\/[^\s]+|\/[^\s]*)$/.test(url))
    fail(`${what}.url: not an http(s) URL or a path`);
  const files = arr(o, "files", 4096).map((f) => {
    const fo = rec(f, `${what}.files[]`);
    const file: ModelSourceFile = {
      name: str(fo, "name", 512),
      size: int(fo, "size", 0, Number.MAX_SAFE_INTEGER),
    };
    if (fo["sha256"] !== undefined) {
      const h = str(fo, "sha256", 64);
      if (!/^[0-9a-f]{64}$/.test(h)) fail(`${what}.files[].sha256: not a sha256`);
      file.sha256 = h;
    }
    return file;
  });
  const out: ModelSource = { format, url, files };
  const revision = optStr(o, "revision", 128);
  if (revision !== undefined) out.revision = revision;
  return out;
}

function caps(x: unknown): PeerCapabilities {
  const o = rec(x, "caps");
  const a = rec(o["adapter"], "caps.adapter");
  const limitsIn = rec(a["limits"], "caps.adapter.limits");
  const limits: Record<string, number> = {};
  const keys = Object.keys(limitsIn);
  if (keys.length > 256) fail("caps.adapter.limits: too many keys");
  for (const k of keys) limits[k.slice(0, 128)] = num(limitsIn, k);
  const models = arr(o, "models", 64).map((m) => {
    const mo = rec(m, "caps.models[]");
    const entry: PeerCapabilities["models"][number] = {
      modelId: modelId(mo, "modelId"),
      files: strArr(mo, "files", 1024),
    };
    if (mo["layers"] !== undefined) entry.layers = range(rec(mo["layers"], "caps.models[].layers"));
    return entry;
  });
  const name = optStr(o, "name", 128);
  return {
    platform: oneOf(o, "platform", ["browser", "node"] as const),
    adapter: { description: str(a, "description", 512), limits },
    memoryBudgetBytes: num(o, "memoryBudgetBytes", 0),
    matmulGflops: num(o, "matmulGflops", 0),
    models,
    ...(name === undefined ? {} : { name }),
  };
}

function range(o: Record<string, unknown>): LayerRange {
  const layerStart = int(o, "layerStart", 0, 100_000);
  const layerEnd = int(o, "layerEnd", layerStart, 100_000);
  return { layerStart, layerEnd };
}

function loadedRange(o: Record<string, unknown>): LoadedRange {
  const r: LoadedRange = range(o);
  if (o["weightBytes"] !== undefined)
    r.weightBytes = int(o, "weightBytes", 0, Number.MAX_SAFE_INTEGER);
  if (o["kvBytes"] !== undefined) r.kvBytes = int(o, "kvBytes", 0, Number.MAX_SAFE_INTEGER);
  return r;
}

function planStages(o: Record<string, unknown>, k: "stages" | "standby"): PlanStage[] {
  return arr(o, k, 4096).map((s) => {
    const so = rec(s, `plan.${k}[]`);
    return { peerId: id(so, "peerId"), ...range(so) };
  });
}

function plan(x: unknown): PipelinePlan | null {
  if (x === null) return null;
  const o = rec(x, "plan");
  const headId = o["headId"] === null ? null : id(o, "headId");
  const out: PipelinePlan = {
    version: int(o, "version"),
    modelId: modelId(o, "modelId"),
    layerCount: int(o, "layerCount", 1, 100_000),
    headId,
    stages: planStages(o, "stages"),
    idle: idArr(o, "idle"),
  };
  if (o["contextLength"] !== undefined) out.contextLength = int(o, "contextLength", 1, 1 << 24);
  if (o["modelUrl"] !== undefined) {
    const url = str(o, "modelUrl", 2048);
    if (!/^(https?:\/\/[^\s]+|\/[^\s]*)$/.test(url))
      fail("plan.modelUrl: not an http(s) URL or a path");
    out.modelUrl = url;
  }
  if (o["standby"] !== undefined) out.standby = planStages(o, "standby");
  return out;
}

function roomState(x: unknown): RoomState {
  const o = rec(x, "state");
  const pe = o["planError"];
  let planError: RoomState["planError"] = null;
  if (pe !== null) {
    const peo = rec(pe, "state.planError");
    planError = { code: errorCode(peo), message: str(peo, "message") };
  }
  return {
    roomId: id(o, "roomId"),
    model: modelInfo(o["model"]),
    members: arr(o, "members", 4096).map((m) => {
      const mo = rec(m, "state.members[]");
      return {
        peerId: id(mo, "peerId"),
        role: oneOf(mo, "role", ["head", "stage"] as const),
        caps: caps(mo["caps"]),
        loaded: mo["loaded"] === null ? null : loadedRange(rec(mo["loaded"], "loaded")),
      };
    }),
    plan: plan(o["plan"]),
    planError,
    ready: bool(o, "ready"),
    active: o["active"] === null ? null : id(o, "active"),
    queue: idArr(o, "queue"),
  };
}

function bool(o: Record<string, unknown>, k: string): boolean {
  const x = o[k];
  if (typeof x !== "boolean") fail(`${k}: expected a boolean`);
  return x;
}

function iceServer(x: unknown): IceServer {
  const o = rec(x, "iceServers[]");
  const u = o["urls"];
  const urls = typeof u === "string" ? str(o, "urls") : strArr(o, "urls", 16);
  const username = optStr(o, "username");
  const credential = optStr(o, "credential");
  return {
    urls,
    ...(username === undefined ? {} : { username }),
    ...(credential === undefined ? {} : { credential }),
  };
}

function rtcSignal(x: unknown): RtcSignal {
  const o = rec(x, "data");
  const type = oneOf(o, "type", ["offer", "answer", "candidate", "renegotiate"] as const);
  if (type === "offer" || type === "answer") return { type, sdp: str(o, "sdp", 64 * 1024) };
  if (type === "renegotiate") return { type, renegotiate: true };
  const c = rec(o["candidate"], "data.candidate");
  const candidate: Extract<RtcSignal, { type: "candidate" }>["candidate"] = {
    candidate: str(c, "candidate", 2048),
  };
  if (c["sdpMLineIndex"] !== undefined) {
    candidate.sdpMLineIndex = c["sdpMLineIndex"] === null ? null : int(c, "sdpMLineIndex", 0, 1024);
  }
  if (c["sdpMid"] !== undefined)
    candidate.sdpMid = c["sdpMid"] === null ? null : str(c, "sdpMid", 64);
  return { type, candidate };
}

function kvOp(x: unknown): StageKvOp {
  const o = rec(x, "op");
  const op = oneOf(o, "op", ["seq_rm", "seq_cp", "seq_keep", "clear"] as const);
  const p = (k: string): number => int(o, k, -1, 0x7fffffff);
  switch (op) {
    case "seq_rm":
      return { op, seq: int(o, "seq", -1, 0x7fffffff), p0: p("p0"), p1: p("p1") };
    case "seq_cp":
      return { op, src: int(o, "src"), dst: int(o, "dst"), p0: p("p0"), p1: p("p1") };
    case "seq_keep":
      return { op, seq: int(o, "seq") };
    case "clear":
      return { op };
  }
}

function runCredit(x: unknown): RunCredit {
  const o = rec(x, "credit");
  return {
    done: int(o, "done"),
    doneBytes: int(o, "doneBytes"),
    runs: int(o, "runs", 1, 1 << 20),
    bytes: int(o, "bytes", 1),
  };
}

function rowOutput(x: unknown): WireRowOutput {
  const o = rec(x, "outputs[]");
  const out: WireRowOutput = {
    row: int(o, "row"),
    argmax: int(o, "argmax"),
    prob: num(o, "prob", 0, 1),
    topIds: intArr(o, "topIds"),
    topProbs: numArr(o, "topProbs"),
  };
  if (out.topIds.length !== out.topProbs.length) fail("topIds and topProbs differ in length");
  if (o["logits"] !== undefined) out.logits = bool(o, "logits");
  return out;
}

// --- decoders ------------------------------------------------------------------------------------------------

function typeOf(x: unknown): { o: Record<string, unknown>; type: string } {
  const o = rec(x, "message");
  const t = o["type"];
  if (typeof t !== "string") fail("type: missing");
  return { o, type: t };
}

function guard<M>(f: () => M): Decoded<M> {
  try {
    return { ok: true, msg: f() };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { code: e.code, message: e.message } };
    return { ok: false, error: { code: "ERR_PROTOCOL_DECODE", message: String(e) } };
  }
}

/** Validates one WebRTC signal (what simple-peer emits, before it goes on the wire). Never throws. */
export function decodeRtcSignal(x: unknown): Decoded<RtcSignal> {
  return guard(() => rtcSignal(x));
}

/** Validates a parsed signaling message (JSON.parse output). Never throws. */
export function decodeSignal(x: unknown): Decoded<SignalMessage> {
  return guard((): SignalMessage => {
    const { o, type } = typeOf(x);
    const v = version(o, type === "join" || type === "error");
    switch (type) {
      case "create": {
        const token = optStr(o, "token", 256);
        return { type, v, model: modelInfo(o["model"]), ...(token === undefined ? {} : { token }) };
      }
      case "created":
        return { type, v, roomId: id(o, "roomId"), secret: id(o, "secret") };
      case "join":
        return {
          type,
          v,
          minV: int(o, "minV", 0, 0xffff),
          roomId: id(o, "roomId"),
          secret: id(o, "secret"),
          role: oneOf(o, "role", ["head", "stage"] as const),
          caps: caps(o["caps"]),
        };
      case "joined":
        return {
          type,
          v,
          peerId: id(o, "peerId"),
          state: roomState(o["state"]),
          iceServers: arr(o, "iceServers", 32).map(iceServer),
          heartbeatMs: int(o, "heartbeatMs", 1),
          livenessTimeoutMs: int(o, "livenessTimeoutMs", 1),
        };
      case "caps":
        return { type, v, caps: caps(o["caps"]) };
      case "ready":
        return { type, v, ...loadedRange(o) };
      case "request":
      case "release":
      case "leave":
        return { type, v };
      case "report":
        return {
          type,
          v,
          peerId: id(o, "peerId"),
          code: reportCode(o),
          message: str(o, "message", 1024),
        };
      case "queued":
        return { type, v, position: int(o, "position", 1) };
      case "granted":
        return { type, v, planVersion: int(o, "planVersion") };
      case "state":
        return { type, v, state: roomState(o["state"]) };
      case "signal": {
        const to = o["to"] === undefined ? undefined : id(o, "to");
        const from = o["from"] === undefined ? undefined : id(o, "from");
        return {
          type,
          v,
          ...(to === undefined ? {} : { to }),
          ...(from === undefined ? {} : { from }),
          connId: str(o, "connId", 256),
          data: rtcSignal(o["data"]),
        };
      }
      case "ping":
      case "pong":
        return { type, v, t: num(o, "t") };
      case "error": {
        const ref = optStr(o, "ref", 64);
        return {
          type,
          v,
          code: errorCode(o),
          message: str(o, "message", 4096),
          ...(ref === undefined ? {} : { ref }),
        };
      }
      default:
        throw new Invalid(
          "ERR_PROTOCOL_UNKNOWN",
          `unknown signaling message type "${type.slice(0, 64)}"`,
        );
    }
  });
}

/** Validates a peer message header (the JSON part of a frame). Never throws. */
export function decodePeer(x: unknown): Decoded<PeerMessage> {
  return guard((): PeerMessage => {
    const { o, type } = typeOf(x);
    const v = version(o, type === "hello" || type === "error");
    switch (type) {
      case "hello": {
        const msg: PeerMessage = {
          type,
          v,
          minV: int(o, "minV", 0, 0xffff),
          peerId: id(o, "peerId"),
        };
        if (o["credit"] === true) msg.credit = true;
        return msg;
      }
      case "run": {
        const rows = int(o, "rows", 1, 1 << 20);
        const msg: PeerMessage = {
          type,
          v,
          runId: int(o, "runId"),
          kind: oneOf(o, "kind", ["canonical", "speculative", "prefill"] as const),
          rows,
          cols: int(o, "cols", 1, 1 << 24),
          dtype: oneOf(o, "dtype", ["f32", "f16"] as const),
          positions: intArr(o, "positions"),
          seqIds: arr(o, "seqIds").map((s, i) => {
            if (!Array.isArray(s) || s.length === 0 || s.length > 4096)
              fail(`seqIds[${i}]: expected a non-empty array`);
            return intArr({ s }, "s");
          }),
          outputRows: intArr(o, "outputRows", 0, rows - 1),
          stageComputeMs: num(o, "stageComputeMs", 0),
        };
        if (msg.positions.length !== rows || msg.seqIds.length !== rows)
          fail("positions/seqIds must have `rows` entries");
        if (o["logitsRows"] !== undefined) msg.logitsRows = intArr(o, "logitsRows", 0, rows - 1);
        const topK = optInt(o, "topK", 0, 1 << 20);
        if (topK !== undefined) msg.topK = topK;
        const times = optStageTimes(o);
        if (times !== undefined) msg.stageTimesMs = times;
        return msg;
      }
      case "kv":
        return { type, v, op: kvOp(o["op"]) };
      case "cancel":
        return { type, v, runIds: intArr(o, "runIds", 0, Number.MAX_SAFE_INTEGER) };
      case "skip": {
        const times = optStageTimes(o);
        return {
          type,
          v,
          runId: int(o, "runId"),
          stageComputeMs: num(o, "stageComputeMs", 0),
          ...(times === undefined ? {} : { stageTimesMs: times }),
        };
      }
      case "result": {
        const msg: PeerMessage = {
          type,
          v,
          runId: int(o, "runId"),
          stageComputeMs: num(o, "stageComputeMs", 0),
          outputs: arr(o, "outputs").map(rowOutput),
        };
        const vocab = optInt(o, "vocab", 1, 1 << 24);
        if (vocab !== undefined) msg.vocab = vocab;
        if (o["logitsDtype"] !== undefined)
          msg.logitsDtype = oneOf(o, "logitsDtype", ["f32", "f16"] as const);
        const times = optStageTimes(o);
        if (times !== undefined) msg.stageTimesMs = times;
        if (
          msg.outputs.some((r) => r.logits === true) &&
          (vocab === undefined || msg.logitsDtype === undefined)
        ) {
          fail("result with logits needs vocab and logitsDtype");
        }
        return msg;
      }
      case "ping": {
        const msg: PeerMessage = { type, v, t: num(o, "t") };
        if (o["credit"] !== undefined) msg.credit = runCredit(o["credit"]);
        return msg;
      }
      case "pong":
        return { type, v, t: num(o, "t") };
      case "bye": {
        const reason = optStr(o, "reason");
        return { type, v, ...(reason === undefined ? {} : { reason }) };
      }
      case "error": {
        const msg: PeerMessage = { type, v, code: errorCode(o), message: str(o, "message", 4096) };
        const runId = optInt(o, "runId");
        if (runId !== undefined) msg.runId = runId;
        if (o["peerId"] !== undefined) msg.peerId = id(o, "peerId");
        return msg;
      }
      default:
        throw new Invalid(
          "ERR_PROTOCOL_UNKNOWN",
          `unknown peer message type "${type.slice(0, 64)}"`,
        );
    }
  });
}
