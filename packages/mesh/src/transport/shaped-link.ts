// A per-link network shaper in user space (the kernel here has no netem): wraps any ByteChannel and delays
// what it sends by a fixed latency plus the serialisation time of a token-bucket bandwidth, preserving order.
// Bytes waiting for bandwidth count as bufferedAmount, so Link backpressure sees a slow link as a slow link.
// For benchmarks (--link-latency-ms, --link-bandwidth-mbps); shapes one direction, wrap both ends for two.

import type { ByteChannel, ByteChannelEvents } from "./channel.ts";
import { systemClock, type Clock } from "./clock.ts";

export interface ShapeOptions {
  /** One-way delay added to every message. */
  latencyMs?: number;
  /** Link rate; 0 or undefined means unlimited. */
  bandwidthMbps?: number;
  clock?: Clock;
}

interface Queued {
  bytes: Uint8Array;
  /** When the last bit has left the sender (start + serialisation time). */
  sentAtMs: number;
  deliverAtMs: number;
}

export class ShapedChannel implements ByteChannel {
  readonly #inner: ByteChannel;
  readonly #latencyMs: number;
  readonly #bytesPerMs: number;
  readonly #clock: Clock;
  readonly #queue: Queued[] = [];
  #events: ByteChannelEvents | null = null;
  #busyUntilMs = 0;
  #cancelTimer: (() => void) | null = null;
  #timerAtMs = Infinity;
  #closed = false;

  constructor(inner: ByteChannel, options: ShapeOptions) {
    this.#inner = inner;
    this.#latencyMs = Math.max(0, options.latencyMs ?? 0);
    const mbps = options.bandwidthMbps ?? 0;
    this.#bytesPerMs = mbps > 0 ? (mbps * 1e6) / 8 / 1000 : Infinity;
    this.#clock = options.clock ?? systemClock;
  }

  get maxMessageBytes(): number {
    return this.#inner.maxMessageBytes;
  }

  bufferedAmount(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const q of this.#queue) if (q.sentAtMs > now) n += q.bytes.byteLength;
    return n + this.#inner.bufferedAmount();
  }

  listen(events: ByteChannelEvents): void {
    this.#events = events;
    this.#inner.listen({
      message: (b) => events.message(b),
      close: (r) => {
        this.#closed = true;
        this.#stop();
        events.close(r);
      },
      drain: () => events.drain(),
    });
  }

  send(bytes: Uint8Array): void {
    if (this.#closed) throw new Error("channel closed");
    if (bytes.byteLength > this.maxMessageBytes) throw new Error("Max message size exceeded.");
    const now = this.#clock.now();
    const start = Math.max(now, this.#busyUntilMs);
    const sentAtMs = start + bytes.byteLength / this.#bytesPerMs;
    this.#busyUntilMs = sentAtMs;
    this.#queue.push({ bytes: bytes.slice(), sentAtMs, deliverAtMs: sentAtMs + this.#latencyMs });
    this.#schedule();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    this.#queue.length = 0;
    this.#inner.close();
  }

  #stop(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    this.#timerAtMs = Infinity;
  }

  /** One timer at the next event: a delivery, or a departure that frees buffer space (drain). */
  #schedule(): void {
    const now = this.#clock.now();
    let at = Infinity;
    for (const q of this.#queue) {
      at = Math.min(at, q.deliverAtMs);
      if (q.sentAtMs > now) {
        at = Math.min(at, q.sentAtMs);
        break;
      }
    }
    if (at === Infinity || at >= this.#timerAtMs) return;
    this.#cancelTimer?.();
    this.#timerAtMs = at;
    this.#cancelTimer = this.#clock.after(Math.max(0, at - now), () => this.#fire());
  }

  #fire(): void {
    this.#cancelTimer = null;
    this.#timerAtMs = Infinity;
    if (this.#closed) return;
    const now = this.#clock.now();
    try {
      while (this.#queue.length > 0 && (this.#queue[0]?.deliverAtMs ?? Infinity) <= now) {
        const q = this.#queue.shift();
        if (q !== undefined) this.#inner.send(q.bytes);
      }
    } catch {
      // The inner channel closed; its close event tells the listener.
      return;
    }
    this.#events?.drain();
    this.#schedule();
  }
}

/** Shapes a channel (or leaves it alone when no shaping is asked for). */
export function shapeChannel(inner: ByteChannel, options: ShapeOptions): ByteChannel {
  const idle = (options.latencyMs ?? 0) <= 0 && (options.bandwidthMbps ?? 0) <= 0;
  return idle ? inner : new ShapedChannel(inner, options);
}
