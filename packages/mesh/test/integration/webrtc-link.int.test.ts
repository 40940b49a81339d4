// Links over real WebRTC data channels on loopback (node-datachannel through simple-peer): large messages
// chunked to 256 KiB and reassembled intact, sender backpressure on bufferedAmount, control messages
// overtaking queued data, and a peer with another protocol version refused.
import { afterEach, describe, expect, it } from "vitest";
import type { ByteChannel, ByteChannelEvents } from "../../src/transport/channel.ts";
import { Link } from "../../src/transport/link.ts";
import { MAX_FRAME_BYTES } from "../../src/protocol/frame.ts";
import { connectRtcPair, type RtcPair } from "../support/rtc-pair.ts";

class Probe implements ByteChannel {
  maxBuffered = 0;
  largestFrame = 0;
  readonly inner: ByteChannel;
  constructor(inner: ByteChannel) {
    this.inner = inner;
  }
  get maxMessageBytes(): number {
    return this.inner.maxMessageBytes;
  }
  bufferedAmount(): number {
    return this.inner.bufferedAmount();
  }
  listen(events: ByteChannelEvents): void {
    this.inner.listen(events);
  }
  send(bytes: Uint8Array): void {
    this.maxBuffered = Math.max(this.maxBuffered, this.inner.bufferedAmount());
    this.largestFrame = Math.max(this.largestFrame, bytes.byteLength);
    this.inner.send(bytes);
  }
  close(): void {
    this.inner.close();
  }
}

let pair: RtcPair | null = null;
afterEach(() => {
  pair?.destroy();
  pair = null;
});

describe("Link over WebRTC (loopback)", () => {
  it("connects with loopback candidates only", async () => {
    pair = await connectRtcPair();
    expect(pair.candidates.length).toBeGreaterThan(0);
    for (const c of pair.candidates) expect(c).toMatch(/ (127\.0\.0\.1|::1) /);
    expect(pair.a.maxMessageBytes).toBe(MAX_FRAME_BYTES);
  });

  it("moves 24 MiB of activations in chunks with bounded send buffers, control overtaking data", async () => {
    pair = await connectRtcPair();
    const probe = new Probe(pair.a);
    const highWaterBytes = 1024 * 1024;
    const a = new Link(probe, { localId: "a", remoteId: "b", highWaterBytes });
    const b = new Link(pair.b, { localId: "b", remoteId: "a" });
    const got: { type: string; body: Uint8Array }[] = [];
    b.listen({ message: (m, body) => got.push({ type: m.type, body }), close: () => {} });
    await Promise.all([a.ready, b.ready]);
    const messages = 6;
    const body = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) & 0xff;
    const t0 = performance.now();
    for (let i = 0; i < messages; i++) {
      body[0] = i;
      a.send({ type: "result", runId: i, stageComputeMs: 0, outputs: [] }, body);
    }
    // Bytes still queued in the Link (not yet handed to the data channel) when the cancel goes out: the
    // cancel must overtake all of them.
    const overtakable = a.queuedBytes() - probe.bufferedAmount();
    a.send({ type: "cancel", runIds: [99] }, undefined, "control");
    while (got.filter((g) => g.type === "result").length < messages)
      await new Promise((r) => setTimeout(r, 5));
    const ms = performance.now() - t0;
    // Sent after all six results were queued; it overtakes those still queued in the link (data already
    // handed to the data channel, up to the high-water mark, goes first).
    const cancelAt = got.findIndex((g) => g.type === "cancel");
    expect(overtakable).toBeGreaterThan(body.byteLength); // at least one whole result was still queued
    const deliveredBefore = cancelAt * body.byteLength; // results complete before the cancel arrived
    expect(deliveredBefore).toBeLessThanOrEqual(messages * body.byteLength - overtakable);
    const results = got.filter((g) => g.type === "result");
    results.forEach((r, i) => {
      expect(r.body.byteLength).toBe(body.byteLength);
      expect(r.body[0]).toBe(i);
      expect(r.body[4096 * 200]).toBe(200);
    });
    expect(probe.largestFrame).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    // Data frames leave only below the high-water mark (a control frame may add one frame on top).
    expect(probe.maxBuffered).toBeLessThan(highWaterBytes + MAX_FRAME_BYTES);
    console.log(
      `24 MiB over one WebRTC link in ${ms.toFixed(0)} ms (${((24 / ms) * 1000).toFixed(1)} MiB/s); cancel arrived after ${cancelAt} of ${messages} results`,
    );
    a.destroy();
    b.destroy();
  });

  it("refuses a peer that speaks another protocol version", async () => {
    pair = await connectRtcPair();
    const a = new Link(pair.a, { localId: "a", remoteId: "b", announce: { v: 3, minV: 3 } });
    const b = new Link(pair.b, { localId: "b", remoteId: "a" });
    a.listen({ message: () => {}, close: () => {} });
    const closed: string[] = [];
    b.listen({ message: () => {}, close: (e) => closed.push(e.code) });
    await expect(b.ready).rejects.toMatchObject({ code: "ERR_PROTOCOL_VERSION" });
    await expect(a.ready).rejects.toBeDefined();
    expect(closed).toEqual(["ERR_PROTOCOL_VERSION"]);
  });
});
