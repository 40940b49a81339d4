// EngineError: the one error class of @pipemesh/engine. Variation lives in `code` (a closed union), and
// errors cross worker boundaries as plain {name, code, message, stack} objects (toWire/fromWire).
// Not for mesh or network failures; those are MeshError in @pipemesh/mesh.

export const ENGINE_ERROR_CODES = [
  "ERR_CONFIG_UNSUPPORTED", // architecture or config value we do not implement (names the field)
  "ERR_CONFIG_INVALID", // config.json malformed or inconsistent
  "ERR_WEIGHTS_MISSING", // a tensor the shard needs is absent
  "ERR_WEIGHTS_SHAPE", // a tensor has the wrong shape
  "ERR_WEIGHTS_DTYPE", // unsupported tensor dtype
  "ERR_WEIGHTS_TRUNCATED", // file shorter than its header says
  "ERR_WEIGHTS_FORMAT", // not a safetensors file / bad header / bad index
  "ERR_GGUF_TENSOR_TYPE", // a needed GGUF tensor has a ggml type the engine cannot hold
  "ERR_FETCH", // a file or HTTP range could not be read
  "ERR_MODEL_SOURCE", // a model spec (path, URL, hf:OWNER/REPO) is malformed, unknown or unreadable
  "ERR_TOKENIZER", // tokenizer.json / tokenizer_config.json unusable
  "ERR_CHAT_TEMPLATE", // chat template missing or failed to render
  "ERR_GPU_UNAVAILABLE", // no WebGPU adapter at all
  "ERR_GPU_ADAPTER", // adapter/device request failed
  "ERR_GPU_LIMIT", // a shape exceeds the device's limits
  "ERR_GPU_LOST", // device lost
  "ERR_KERNEL_SHAPE", // kernel wrapper guard: inconsistent shapes
  "ERR_BATCH_INVALID", // a ShardBatch is malformed for this shard
  "ERR_KV_FULL", // no free KV cells left
  "ERR_NONFINITE", // a shard's output hidden states or logits hold NaN or infinity
  "ERR_GPU_OOM", // the device ran out of memory (a buffer or pipeline could not be created)
  "ERR_KV_SEQ", // sequence id out of range
  "ERR_CONTEXT_LENGTH", // position beyond the model's or cache's context
  "ERR_ABORTED", // a run was aborted through its AbortSignal
  "ERR_WORKER_TIMEOUT", // a worker call exceeded its timeout
  "ERR_WORKER_DIED", // the worker exited or crashed; pending calls reject with this
  "ERR_WORKER_NOT_READY", // ready handshake failed
  "ERR_DESTROYED", // method called after destroy()
  "ERR_DRAFT_VOCAB", // draft model vocabulary differs from the target's
  "ERR_ONNX", // ONNX draft model missing or incompatible
  "ERR_CACHE_QUOTA", // the weight cache has no room for a read (names the bytes needed)
  "ERR_INTERNAL", // a bug: an invariant did not hold
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export interface WireError {
  name: string;
  code: string;
  message: string;
  stack?: string | undefined;
}

export class EngineError extends Error {
  override readonly name = "EngineError";
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }

  toWire(): WireError {
    return { name: this.name, code: this.code, message: this.message, stack: this.stack };
  }

  /** Rebuilds an error that crossed a worker boundary; unknown codes become ERR_INTERNAL. */
  static fromWire(w: WireError): EngineError {
    const code = (ENGINE_ERROR_CODES as readonly string[]).includes(w.code)
      ? (w.code as EngineErrorCode)
      : "ERR_INTERNAL";
    const msg = w.message.startsWith(`${w.code}: `)
      ? w.message.slice(w.code.length + 2)
      : w.message;
    const err = new EngineError(code, msg);
    if (w.stack !== undefined) err.stack = w.stack;
    return err;
  }
}

export function isEngineError(e: unknown, code?: EngineErrorCode): e is EngineError {
  return e instanceof EngineError && (code === undefined || e.code === code);
}

/** Throws ERR_ABORTED ("<what> was aborted", the signal's reason as cause) when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) {
    throw new EngineError("ERR_ABORTED", `${what} was aborted`, { cause: signal.reason });
  }
}
