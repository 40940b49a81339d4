// An in-process ByteChannel pair with the same behaviour a data channel has (ordered, reliable, async
// delivery, a size limit, bufferedAmount, close seen by both ends), and the Link pair built on it. For tests
// and for stages in one process. Not a network emulator: wrap it in ShapedChannel for latency/bandwidth.

import { MAX_FRAME_BYTES } from "../protocol/frame.ts";
import type { ByteChannel, ByteChannelEvents } from "./channel.ts";
import { Link, type LinkOptions } from "./link.ts";

class MemoryChannel implements ByteChannel {
  readonly maxMessageBytes: number;
  peer: MemoryChannel | null = null;
  #events: ByteChannelEvents | null = null;
  #inbox: Uint8Array[] = [];
  #inFlight = 0;
  #closed = false;
  #closeSeen = false;

  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  bufferedAmount(): number {
    return this.#inFlight;
  }

  listen(events: ByteChannelEvents): void {
    this.#events = events;
    const pending = this.#inbox;
    this.#inbox = [];
    for (const m of pending) events.message(m);
    if (this.#closed && !this.#closeSeen) this.#fireClose("closed before listen");
  }

  send(bytes: Uint8Array): void {
    if (this.#closed) throw new Error("channel closed");
    if (bytes.byteLength > this.maxMessageBytes) throw new Error("Max message size exceeded.");
    const copy = bytes.slice();
    const peer = this.peer;
    this.#inFlight += copy.byteLength;
    queueMicrotask(() => {
      this.#inFlight -= copy.byteLength;
      if (this.#inFlight === 0 && !this.#closed) this.#events?.drain();
      if (peer !== null && !peer.#closed) peer.#deliver(copy);
    });
  }

  #deliver(bytes: Uint8Array): void {
    if (this.#events === null) this.#inbox.push(bytes);
    else this.#events.message(bytes);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const peer = this.peer;
    // The remote sees the close after messages already sent (ordered, like SCTP).
    queueMicrotask(() => {
      this.#fireClose("closed locally");
      if (peer !== null && !peer.#closed) {
        peer.#closed = true;
        peer.#fireClose("closed by remote");
      }
    });
  }

  #fireClose(reason: string): void {
    if (this.#closeSeen || this.#events === null) return;
    this.#closeSeen = true;
    this.#events.close(reason);
  }
}

/** Two connected in-memory channels. */
export function createMemoryChannelPair(
  maxMessageBytes = MAX_FRAME_BYTES,
): [ByteChannel, ByteChannel] {
  const a = new MemoryChannel(maxMessageBytes);
  const b = new MemoryChannel(maxMessageBytes);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Two connected Links over in-memory channels (`a` is aId talking to bId). */
export function createMemoryLinkPair(
  aId: string,
  bId: string,
  options: Omit<LinkOptions, "localId" | "remoteId"> = {},
): [Link, Link] {
  const [ca, cb] = createMemoryChannelPair();
  return [
    new Link(ca, { ...options, localId: aId, remoteId: bId }),
    new Link(cb, { ...options, localId: bId, remoteId: aId }),
  ];
}
