// Memory bounds on the peer wire under attack: reassembly holds only bytes that arrived (capped, with a
// timeout for stalled messages), a stage's input queue is bounded in items and bytes (ERR_QUEUE_FULL ends
// the session), and signals for connections not dialled yet are bounded in bytes.
import { describe, expect, it } from "vitest";
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FrameError,
  Reassembler,
} from "../../src/protocol/frame.ts";
import { StageServer } from "../../src/pipeline/stage-server.ts";
import { encodeRun } from "../../src/pipeline/wire.ts";
import { Link } from "../../src/transport/link.ts";
import { createMemoryChannelPair } from "../../src/transport/memory-link.ts";
import { Connector } from "../../src/room/connector.ts";
import type { SignalingClient } from "../../src/signaling/client.ts";
import type { StageRunner } from "../../src/ports.ts";
import type { MeshError } from "../../src/errors.ts";

const MiB = 1024 * 1024;

function chunk(messageId: number, total: number, offset: number, bytes: number): Uint8Array {
  const f = new Uint8Array(FRAME_HEADER_BYTES + bytes);
  const v = new DataView(f.buffer);
  v.setUint8(0, FRAME_MAGIC);
  v.setUint8(1, 2);
  v.setUint32(4, messageId, true);
  v.setUint32(8, total, true);
  v.setUint32(12, offset, true);
  return f;
}

function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof FrameError ? e.code : "not a FrameError";
  }
}

describe("reassembly bounds", () => {
  it("holds only the bytes that arrived, not the declared total", () => {
    const r = new Reassembler({ maxMessageBytes: 256 * MiB });
    const before = process.memoryUsage().arrayBuffers;
    // Four messages each claiming 256 MiB, one 1 KiB chunk each.
    for (let id = 1; id <= 4; id++) expect(r.push(chunk(id, 256 * MiB, 0, 1024))).toBeNull();
    expect(r.pendingBytes).toBe(4 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MiB);
    expect(code(() => r.push(chunk(5, 256 * MiB, 0, 1024)))).toBe("ERR_FRAME"); // too many partials
  });

  it("caps all partial messages together at the largest message the model can need", () => {
    const r = new Reassembler({ maxMessageBytes: 4 * MiB });
    expect(code(() => r.push(chunk(1, 5 * MiB, 0, 1024)))).toBe("ERR_MESSAGE_TOO_LARGE");
    const piece = 256 * 1024 - FRAME_HEADER_BYTES;
    let failed: string | null = null;
    for (let id = 1; id <= 3 && failed === null; id++) {
      for (let off = 0; off < 4 * MiB - piece && failed === null; off += piece)
        failed = code(() => r.push(chunk(id, 4 * MiB, off, piece)));
    }
    expect(failed).toBe("ERR_MESSAGE_TOO_LARGE");
    expect(r.pendingBytes).toBeLessThanOrEqual(4 * MiB);
  });

  it("fails a message whose next chunk does not come in time", () => {
    let now = 0;
    const r = new Reassembler({ partialTimeoutMs: 1000, now: () => now });
    r.push(chunk(1, 10_000, 0, 100));
    now = 900;
    r.push(chunk(1, 10_000, 100, 100));
    now = 2000;
    expect(code(() => r.push(chunk(2, 10_000, 0, 100)))).toBe("ERR_FRAME");
    expect(r.pendingBytes).toBe(0);
  });

  it("refuses duplicated, gapped, empty and size-lying chunks", () => {
    const r = new Reassembler();
    r.push(chunk(1, 1000, 0, 100));
    expect(code(() => r.push(chunk(1, 1000, 0, 100)))).toBe("ERR_FRAME"); // duplicate
    r.push(chunk(2, 1000, 0, 100));
    expect(code(() => r.push(chunk(2, 1000, 300, 100)))).toBe("ERR_FRAME"); // gap
    r.push(chunk(3, 1000, 0, 100));
    expect(code(() => r.push(chunk(3, 2000, 100, 100)))).toBe("ERR_FRAME"); // total changed
    expect(code(() => r.push(chunk(4, 1000, 0, 0)))).toBe("ERR_FRAME"); // empty chunk
    expect(code(() => r.push(chunk(5, 50, 0, 100)))).toBe("ERR_FRAME"); // more than declared
    expect(r.pendingBytes).toBe(0);
  });
});

describe("stage input queue bounds", () => {
  it("refuses a sender that floods a busy stage with ERR_QUEUE_FULL, holding at most the bound", async () => {
    const never: StageRunner = {
      run: () => new Promise(() => {}),
      kv: () => Promise.resolve(),
    };
    // A sender that ignores run credit (as an older build does): only the queue bound stops it.
    const [ch, cs] = createMemoryChannelPair();
    const head = new Link(ch, { localId: "head", remoteId: "s1", credit: false });
    const stageUp = new Link(cs, { localId: "s1", remoteId: "head" });
    let closedWith: MeshError | null | undefined;
    const server = new StageServer({
      runner: never,
      upstream: stageUp,
      downstream: null,
      head: stageUp,
      maxQueuedItems: 1000,
      maxQueuedBytes: 8 * MiB,
      onClose: (e) => {
        closedWith = e;
      },
    });
    const errors: string[] = [];
    head.listen({
      message: (m) => {
        if (m.type === "error") errors.push(m.code);
      },
      close: () => {},
    });
    await head.ready;
    const rows = 64;
    const hidden = new Float32Array(rows * 1024); // 256 KiB per run
    let maxQueued = 0;
    for (let runId = 1; runId <= 100 && closedWith === undefined; runId++) {
      const { msg, body } = encodeRun(
        {
          runId,
          kind: "prefill",
          positions: Int32Array.from({ length: rows }, (_, i) => i),
          seqIds: Array.from({ length: rows }, () => [0]),
          outputRows: new Int32Array(0),
          stageComputeMs: 0,
        },
        hidden,
        "f32",
      );
      head.send(msg, body);
      await new Promise((r) => setImmediate(r));
      maxQueued = Math.max(maxQueued, server.stats.queuedBytes);
    }
    await expect.poll(() => closedWith?.code).toBe("ERR_QUEUE_FULL");
    expect(errors).toContain("ERR_QUEUE_FULL");
    expect(maxQueued).toBeLessThanOrEqual(8 * MiB);
  });
});

describe("early signal bounds", () => {
  it("keeps at most 1 MiB of signals for connections not dialled yet", () => {
    const connector = new Connector({
      client: {} as SignalingClient,
      localId: "me",
      rtc: {},
    });
    const sdp = "a".repeat(60_000);
    for (let conn = 0; conn < 64; conn++)
      for (let i = 0; i < 256; i++)
        connector.onSignal("x", `1/a/b${conn}#1`, { type: "offer", sdp });
    expect(connector.earlyBytes).toBeLessThanOrEqual(MiB);
    expect(connector.earlyBytes).toBeGreaterThan(0);
    connector.destroy();
  });
});
