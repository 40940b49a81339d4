// A ByteChannel over a `ws` WebSocket: the bench's baseline transport (TCP on loopback, no SCTP/DTLS), so
// WebRTC data channels can be compared with a raw WebSocket carrying the same frames. Bench only.

import type WebSocket from "ws";
import type { ByteChannel, ByteChannelEvents } from "../src/transport/channel.ts";
import { MAX_FRAME_BYTES } from "../src/protocol/frame.ts";

export class WsChannel implements ByteChannel {
  readonly maxMessageBytes = MAX_FRAME_BYTES;
  readonly #ws: WebSocket;
  #events: ByteChannelEvents | null = null;
  #inbox: Uint8Array[] = [];
  #polling = false;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (this.#events === null) this.#inbox.push(bytes);
      else this.#events.message(bytes);
    });
    ws.on("close", () => this.#events?.close("ws closed"));
    ws.on("error", () => this.#events?.close("ws error"));
  }

  bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  listen(events: ByteChannelEvents): void {
    this.#events = events;
    for (const m of this.#inbox) events.message(m);
    this.#inbox = [];
  }

  send(bytes: Uint8Array): void {
    this.#ws.send(bytes, { binary: true });
    if (!this.#polling && this.#ws.bufferedAmount > 0) this.#poll();
  }

  close(): void {
    this.#ws.close();
  }

  // ws has no bufferedamountlow event: poll until the socket buffer drains.
  #poll(): void {
    this.#polling = true;
    setTimeout(() => {
      this.#polling = false;
      if (this.#ws.bufferedAmount > 256 * 1024) this.#poll();
      else this.#events?.drain();
    }, 1);
  }
}
