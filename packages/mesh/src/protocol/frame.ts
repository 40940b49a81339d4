// Binary framing for peer messages on data channels: a message is [u32 headerBytes][JSON header][body], and
// travels as one or more frames of at most maxFrameBytes (256 KiB: what Chromium's SCTP accepts), each with
// a 16-byte frame header. Reassembly checks order, sizes and limits, and holds only the bytes that have
// actually arrived (a declared total is a claim, not an allocation), all partial messages together capped,
// each dropped when no chunk of it arrives for a while. Knows nothing of message semantics.

import type { WireDtype } from "./messages.ts";
import { decodeF16, encodeF16 } from "./f16.ts";

export const FRAME_MAGIC = 0xf7;
export const FRAME_HEADER_BYTES = 16;
/** Chromium advertises an SCTP max message size of 262144 bytes; frames never exceed it. */
export const MAX_FRAME_BYTES = 256 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const FRAME_WHOLE = 1;
const FRAME_CHUNK = 2;
const MAX_PARTIAL_MESSAGES = 4;
/** A partial message with no new chunk for this long breaks the stream (ERR_FRAME). */
export const DEFAULT_PARTIAL_TIMEOUT_MS = 30_000;

/**
 * The largest run or result payload a model can need: `rows` rows of `width` values (hidden size, or vocab
 * for logits) in f32, plus room for the JSON header. Pass it as a link's maxMessageBytes.
 */
export function maxRunMessageBytes(rows: number, width: number, headerBytes = 1024 * 1024): number {
  return rows * width * 4 + headerBytes;
}

/** Rows a run may carry by the room's cap: 4x the scheduler's default prefill chunk (64 rows). */
export const MODEL_RUN_ROWS = 256;
/** Rows of full logits a result may carry (rows sampled at temperature > 0: a speculative tree). */
export const MODEL_LOGITS_ROWS = 64;

/**
 * The largest run or result message a model needs, for its room descriptor's maxMessageBytes: a run of
 * `runRows` rows of hidden states, or a result with `logitsRows` rows of logits, in f32, plus header room.
 */
export function modelMessageBytes(
  model: { hiddenSize: number; vocabSize: number },
  runRows = MODEL_RUN_ROWS,
  logitsRows = MODEL_LOGITS_ROWS,
): number {
  return Math.max(
    maxRunMessageBytes(runRows, model.hiddenSize),
    maxRunMessageBytes(logitsRows, model.vocabSize),
  );
}

/**
 * The reassembly cap for a room's links: the app's own setting if it made one, else the room model's
 * maxMessageBytes, else the default (256 MiB).
 */
export function roomMessageBytes(
  model: { maxMessageBytes?: number | undefined } | null | undefined,
  own?: number,
): number {
  return own ?? model?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
}

/** A frame-level failure (becomes MeshError ERR_FRAME / ERR_MESSAGE_TOO_LARGE at the link). */
export class FrameError extends Error {
  readonly code: "ERR_FRAME" | "ERR_MESSAGE_TOO_LARGE";
  constructor(code: "ERR_FRAME" | "ERR_MESSAGE_TOO_LARGE", message: string) {
    super(message);
    this.code = code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** header (JSON-serialisable) + body -> one message payload. */
export function encodeMessage(header: object, body?: Uint8Array): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const bodyBytes = body?.byteLength ?? 0;
  const out = new Uint8Array(4 + json.byteLength + bodyBytes);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  if (body !== undefined) out.set(body, 4 + json.byteLength);
  return out;
}

/** payload -> parsed JSON header (unvalidated) + body view. Throws FrameError. */
export function decodeMessage(payload: Uint8Array): { header: unknown; body: Uint8Array } {
  if (payload.byteLength < 4)
    throw new FrameError("ERR_FRAME", "message shorter than its length prefix");
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const headerBytes = view.getUint32(0, true);
  if (4 + headerBytes > payload.byteLength)
    throw new FrameError("ERR_FRAME", "header length exceeds message");
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(payload.subarray(4, 4 + headerBytes)));
  } catch {
    throw new FrameError("ERR_FRAME", "header is not UTF-8 JSON");
  }
  return { header, body: payload.subarray(4 + headerBytes) };
}

function frameHeader(
  frame: Uint8Array,
  kind: number,
  messageId: number,
  total: number,
  offset: number,
): void {
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  view.setUint8(0, FRAME_MAGIC);
  view.setUint8(1, kind);
  view.setUint16(2, 0, true);
  view.setUint32(4, messageId >>> 0, true);
  view.setUint32(8, total, true);
  view.setUint32(12, offset, true);
}

/** Cuts one message payload into frames lazily, so a sender can stop at its high-water mark. */
export class FrameCursor {
  readonly #payload: Uint8Array;
  readonly #messageId: number;
  readonly #chunkBytes: number;
  #offset = 0;
  #done = false;

  constructor(payload: Uint8Array, messageId: number, maxFrameBytes = MAX_FRAME_BYTES) {
    if (maxFrameBytes <= FRAME_HEADER_BYTES)
      throw new FrameError("ERR_FRAME", "maxFrameBytes too small");
    this.#payload = payload;
    this.#messageId = messageId;
    this.#chunkBytes = maxFrameBytes - FRAME_HEADER_BYTES;
  }

  get remainingBytes(): number {
    return this.#done ? 0 : this.#payload.byteLength - this.#offset;
  }

  /** The next frame, or null when the message is fully cut. */
  next(): Uint8Array | null {
    if (this.#done) return null;
    const total = this.#payload.byteLength;
    const whole = this.#offset === 0 && total <= this.#chunkBytes;
    const n = Math.min(this.#chunkBytes, total - this.#offset);
    const frame = new Uint8Array(FRAME_HEADER_BYTES + n);
    frameHeader(frame, whole ? FRAME_WHOLE : FRAME_CHUNK, this.#messageId, total, this.#offset);
    frame.set(this.#payload.subarray(this.#offset, this.#offset + n), FRAME_HEADER_BYTES);
    this.#offset += n;
    if (this.#offset >= total) this.#done = true;
    return frame;
  }
}

/** All frames of one payload (tests, small messages). */
export function toFrames(
  payload: Uint8Array,
  messageId: number,
  maxFrameBytes = MAX_FRAME_BYTES,
): Uint8Array[] {
  const cursor = new FrameCursor(payload, messageId, maxFrameBytes);
  const out: Uint8Array[] = [];
  for (let f = cursor.next(); f !== null; f = cursor.next()) out.push(f);
  return out;
}

interface Partial {
  total: number;
  chunks: Uint8Array[];
  received: number;
  lastChunkMs: number;
}

export interface ReassemblerOptions {
  /** Largest message accepted (ERR_MESSAGE_TOO_LARGE above it). */
  maxMessageBytes?: number;
  /** Bytes all partial messages may hold together (default: maxMessageBytes). */
  maxPendingBytes?: number;
  /** A partial message whose last chunk is older than this fails the stream (checked on every push). */
  partialTimeoutMs?: number;
  /** Milliseconds, monotonic. */
  now?: () => number;
}

/**
 * Rebuilds message payloads from frames. Chunks of one message arrive in order (ordered channel); whole
 * frames of other messages (the control lane) may interleave between them.
 */
export class Reassembler {
  readonly #maxMessageBytes: number;
  readonly #maxPendingBytes: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #partials = new Map<number, Partial>();
  #pending = 0;

  constructor(options: number | ReassemblerOptions = {}) {
    const o = typeof options === "number" ? { maxMessageBytes: options } : options;
    this.#maxMessageBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#maxPendingBytes = o.maxPendingBytes ?? this.#maxMessageBytes;
    this.#timeoutMs = o.partialTimeoutMs ?? DEFAULT_PARTIAL_TIMEOUT_MS;
    this.#now = o.now ?? (() => performance.now());
  }

  /** Bytes held in incomplete messages (only what has arrived). */
  get pendingBytes(): number {
    return this.#pending;
  }

  /** Throws ERR_FRAME if a partial message has waited too long for its next chunk. */
  expire(): void {
    const now = this.#now();
    for (const [id, p] of this.#partials) {
      if (now - p.lastChunkMs > this.#timeoutMs) {
        this.#drop(id, p);
        throw new FrameError(
          "ERR_FRAME",
          `message ${id} stalled: no chunk for ${this.#timeoutMs} ms`,
        );
      }
    }
  }

  #drop(id: number, p: Partial): void {
    this.#partials.delete(id);
    this.#pending -= p.received;
  }

  /** Returns the completed payload, or null while a chunked message is incomplete. Throws FrameError. */
  push(frame: Uint8Array): Uint8Array | null {
    this.expire(); // any frame (heartbeats every 500 ms) checks for stalled partial messages
    if (frame.byteLength < FRAME_HEADER_BYTES)
      throw new FrameError("ERR_FRAME", "frame shorter than its header");
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (view.getUint8(0) !== FRAME_MAGIC) throw new FrameError("ERR_FRAME", "bad frame magic");
    const kind = view.getUint8(1);
    const messageId = view.getUint32(4, true);
    const total = view.getUint32(8, true);
    const offset = view.getUint32(12, true);
    const data = frame.subarray(FRAME_HEADER_BYTES);
    if (total > this.#maxMessageBytes) {
      const p = this.#partials.get(messageId);
      if (p !== undefined) this.#drop(messageId, p);
      throw new FrameError(
        "ERR_MESSAGE_TOO_LARGE",
        `message of ${total} bytes exceeds ${this.#maxMessageBytes}`,
      );
    }
    if (kind === FRAME_WHOLE) {
      if (offset !== 0 || data.byteLength !== total)
        throw new FrameError("ERR_FRAME", "whole frame size mismatch");
      return data.slice();
    }
    if (kind !== FRAME_CHUNK) throw new FrameError("ERR_FRAME", `unknown frame kind ${kind}`);
    let p = this.#partials.get(messageId);
    if (p === undefined) {
      if (offset !== 0)
        throw new FrameError("ERR_FRAME", `chunk of message ${messageId} starts at ${offset}`);
      if (this.#partials.size >= MAX_PARTIAL_MESSAGES)
        throw new FrameError("ERR_FRAME", "too many partial messages");
      p = { total, chunks: [], received: 0, lastChunkMs: this.#now() };
      this.#partials.set(messageId, p);
    }
    if (
      p.total !== total ||
      offset !== p.received ||
      data.byteLength === 0 ||
      offset + data.byteLength > total
    ) {
      this.#drop(messageId, p);
      throw new FrameError("ERR_FRAME", `chunk of message ${messageId} out of order or oversized`);
    }
    if (this.#pending + data.byteLength > this.#maxPendingBytes) {
      this.#drop(messageId, p);
      throw new FrameError(
        "ERR_MESSAGE_TOO_LARGE",
        `partial messages would hold more than ${this.#maxPendingBytes} bytes`,
      );
    }
    p.chunks.push(data.slice());
    p.received += data.byteLength;
    p.lastChunkMs = this.#now();
    this.#pending += data.byteLength;
    if (p.received < total) return null;
    this.#drop(messageId, p);
    if (p.chunks.length === 1 && p.chunks[0] !== undefined) return p.chunks[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of p.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

// --- tensors in bodies ------------------------------------------------------------------------------------

export function bytesPerElement(dtype: WireDtype): number {
  return dtype === "f32" ? 4 : 2;
}

/** [n] f32 -> little-endian bytes in `dtype`. */
export function encodeTensor(data: Float32Array, dtype: WireDtype): Uint8Array {
  if (dtype === "f16") {
    const h = encodeF16(data);
    return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Little-endian bytes in `dtype` -> [count] f32 (always a fresh, aligned copy). Throws FrameError. */
export function decodeTensor(bytes: Uint8Array, dtype: WireDtype, count: number): Float32Array {
  const need = count * bytesPerElement(dtype);
  if (bytes.byteLength !== need) {
    throw new FrameError(
      "ERR_FRAME",
      `tensor body has ${bytes.byteLength} bytes, expected ${need}`,
    );
  }
  const copy = bytes.slice();
  if (dtype === "f16") return decodeF16(new Uint16Array(copy.buffer, 0, count));
  return new Float32Array(copy.buffer, 0, count);
}
