// MeshError: the one error class of @pipemesh/mesh (signaling, transport, pipeline, scheduler). Variation
// lives in `code`. Not for compute failures inside a shard; those arrive as EngineError from the engine and
// are wrapped with ERR_STAGE_FAILED when they cross the mesh.

export const MESH_ERROR_CODES = [
  "ERR_PROTOCOL_VERSION", // peer or client speaks an unsupported protocol version
  "ERR_PROTOCOL_DECODE", // malformed message (bad JSON, wrong field types)
  "ERR_PROTOCOL_UNKNOWN", // unknown message type
  "ERR_MESSAGE_TOO_LARGE", // message exceeds the size limit
  "ERR_RATE_LIMITED", // too many messages per second (or rooms created, per connection or address)
  "ERR_UNAUTHORIZED", // creating rooms needs the server's create token
  "ERR_MODEL_UNKNOWN", // a room was requested for a model the server does not serve
  "ERR_SLOW_CONSUMER", // a client stopped reading; its send buffer passed the limit
  "ERR_INSECURE_BIND", // a non-loopback address without TLS or a reverse proxy in front
  "ERR_ROOM_NOT_FOUND",
  "ERR_ROOM_FULL",
  "ERR_ROOM_SECRET", // wrong room secret
  "ERR_ROOM_BUSY", // a generation is running; queued (message carries the position)
  "ERR_NOT_IN_ROOM", // action needs room membership
  "ERR_REPORT_REFUSED", // a report from a member that is not the active head, or about a member that holds no stage of the plan
  "ERR_EVICTED", // the room removed this member: the active head reported it (the message names the head's code)
  "ERR_SIGNALING_CLOSED", // the signaling connection closed
  "ERR_SIGNALING_TIMEOUT",
  "ERR_PEER_CONNECT", // WebRTC connection could not be established
  "ERR_PEER_LOST", // a peer vanished (heartbeat timeout or channel closed) mid-generation
  "ERR_PEER_DESTROYED", // method called on a destroyed link
  "ERR_FRAME", // binary frame malformed or reassembly failed
  "ERR_PLAN_IMPOSSIBLE", // no valid layer assignment (no peers, budgets too small)
  "ERR_PLAN_STALE", // the plan changed under a running request
  "ERR_STAGE_FAILED", // a stage's compute failed (wraps the engine error code in the message)
  "ERR_NONFINITE", // a stage produced (or a link carried) NaN or infinite activations, logits or probabilities
  "ERR_RESULT_INVALID", // a result that does not fit its run or the model (ids past the vocabulary, rows, lengths, or a run never given)
  "ERR_QUEUE_FULL", // a stage's input queue passed its bound in runs or bytes (the sender ignored backpressure)
  "ERR_NO_DRAFT", // speculative/pipeinfer mode requested without a draft model
  "ERR_CONTEXT_LENGTH", // the conversation no longer fits the context
  "ERR_ABORTED", // the user stopped the generation
  "ERR_TIMEOUT",
  "ERR_DESTROYED",
  "ERR_INTERNAL",
] as const;

export type MeshErrorCode = (typeof MESH_ERROR_CODES)[number];

export class MeshError extends Error {
  override readonly name = "MeshError";
  readonly code: MeshErrorCode;
  /** Optional structured details (e.g. tokens generated so far for ERR_PEER_LOST, queue position). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: MeshErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(
      `${code}: ${message}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.details = options?.details;
  }
}

export function isMeshError(e: unknown, code?: MeshErrorCode): e is MeshError {
  return e instanceof MeshError && (code === undefined || e.code === code);
}

/** Narrows an error code received off the wire; codes this version does not know become ERR_INTERNAL. */
export function toMeshErrorCode(code: string): MeshErrorCode {
  return MESH_ERROR_CODES.find((c) => c === code) ?? "ERR_INTERNAL";
}
