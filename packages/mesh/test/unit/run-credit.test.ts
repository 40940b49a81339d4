// Run credit: a stage's upstream link grants a window of runs and body bytes (ping.credit) and the sender's
// Link holds runs until they fit, so a slow stage slows a fast sender instead of refusing it
// (ERR_QUEUE_FULL), with memory bounded at both ends; cancels and kv ops never wait for credit; peers
// without credit (credit: false, as older builds) interoperate unmetered; and the fields decode strictly.
import { describe, expect, it } from "vitest";
import type { MeshError } from "../../src/errors.ts";
import { StageServer } from "../../src/pipeline/stage-server.ts";
import { encodeRun } from "../../src/pipeline/wire.ts";
import type { StageBatch, StageResult, StageRunner } from "../../src/ports.ts";
import { modelMessageBytes } from "../../src/protocol/frame.ts";
import { decodePeer, decodeSignal, type RunKind } from "../../src/protocol/messages.ts";
import { Link, type LinkMessage } from "../../src/transport/link.ts";
import { createMemoryChannelPair } from "../../src/transport/memory-link.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function run(runId: number, rows: number, cols: number, kind: RunKind = "prefill") {
  return encodeRun(
    {
      runId,
      kind,
      positions: Int32Array.from({ length: rows }, (_, i) => i),
      seqIds: Array.from({ length: rows }, () => [0]),
      outputRows: new Int32Array(0),
      stageComputeMs: 0,
    },
    new Float32Array(rows * cols),
    "f32",
  );
}

/** A sender ("head") and a tail stage ("s1") over one in-memory link pair. */
function setup(opts: {
  senderCredit?: boolean;
  runner: StageRunner;
  items: number;
  bytes: number;
}) {
  const [ch, cs] = createMemoryChannelPair();
  const head = new Link(ch, {
    localId: "head",
    remoteId: "s1",
    ...(opts.senderCredit === undefined ? {} : { credit: opts.senderCredit }),
  });
  const stage = new Link(cs, { localId: "s1", remoteId: "head" });
  const seen = { results: 0, skips: 0, errors: [] as string[] };
  let closed: MeshError | null | undefined;
  const server = new StageServer({
    runner: opts.runner,
    upstream: stage,
    downstream: null,
    head: stage,
    maxQueuedItems: opts.items,
    maxQueuedBytes: opts.bytes,
    onClose: (e) => {
      closed = e;
    },
  });
  head.listen({
    message: (m: LinkMessage) => {
      if (m.type === "result") seen.results++;
      else if (m.type === "skip") seen.skips++;
      else if (m.type === "error") seen.errors.push(m.code);
    },
    close: () => {},
  });
  return { head, stage, server, seen, closed: () => closed };
}

/** A stage that takes `turns` event-loop turns per run (slow next to a sender that never waits). */
function slowRunner(turns: number, onRun: () => void = () => {}): StageRunner {
  return {
    run: async (): Promise<StageResult> => {
      onRun();
      for (let i = 0; i < turns; i++) await turn();
      return { outputs: [] };
    },
    kv: () => Promise.resolve(),
  };
}

describe("run credit", () => {
  const N = 120;
  const rows = 64;
  const cols = 1024; // 256 KiB f32 bodies
  const items = 16; // run window: 16 / 4 = 4 runs
  const bytes = 2 * MiB; // byte window: 1 MiB of wire bytes

  /** The honest stage sink's pattern: send, then wait for the link to drain below its high water. */
  async function flood(t: ReturnType<typeof setup>, stats: { sender: number; queued: number }) {
    for (let id = 1; id <= N && t.closed() === undefined; id++) {
      const { msg, body } = run(id, rows, cols);
      t.head.send(msg, body);
      stats.sender = Math.max(stats.sender, t.head.queuedBytes());
      try {
        await t.head.whenWritable();
      } catch {
        return; // the session ended (the uncredited case)
      }
    }
  }

  it("a slow stage slows a fast sender: nothing is refused, and memory stays bounded at both ends", async () => {
    const stats = { sender: 0, queued: 0, queuedItems: 0 };
    const box: { t?: ReturnType<typeof setup> } = {};
    const runner = slowRunner(30, () => {
      const s = box.t!.server.stats;
      stats.queued = Math.max(stats.queued, s.queuedBytes);
      stats.queuedItems = Math.max(stats.queuedItems, s.queued);
    });
    const t = setup({ runner, items, bytes });
    box.t = t;
    await t.head.ready;
    await flood(t, stats);
    await expect.poll(() => t.seen.results, { timeout: 20_000 }).toBe(N);
    expect(t.closed()).toBeUndefined();
    expect(t.seen.errors).toEqual([]);
    expect(t.head.metered).toBe(true);
    expect(t.head.stats.creditWaits).toBeGreaterThan(0); // the sender really waited for the stage
    // The stage held at most its window: 4 runs of 256 KiB (decoded f32) besides the one computing.
    expect(stats.queuedItems).toBeLessThanOrEqual(4);
    expect(stats.queued).toBeLessThanOrEqual(4 * 256 * KiB);
    // The sender held at most its 1 MiB high water plus one run in its data lane.
    expect(stats.sender).toBeLessThanOrEqual(MiB + 256 * KiB + 4 * KiB);
    console.log(
      `run credit: ${N} runs of 256 KiB, stage queue max ${stats.queuedItems} runs / ${stats.queued / KiB} KiB, sender queue max ${Math.round(stats.sender / KiB)} KiB, ${t.head.stats.creditWaits} credit waits`,
    );
    t.server.destroy();
  });

  it("the same sender without credit (an older peer) is refused with ERR_QUEUE_FULL", async () => {
    const stats = { sender: 0, queued: 0 };
    const t = setup({ runner: slowRunner(30), items, bytes, senderCredit: false });
    await t.head.ready;
    await flood(t, stats);
    await expect.poll(() => t.closed()?.code).toBe("ERR_QUEUE_FULL");
    expect(t.head.metered).toBe(false);
  });

  it("cancels and kv ops do not wait for run credit; cancelled runs return their credit", async () => {
    const started: number[] = [];
    const kvs: string[] = [];
    const runner: StageRunner = {
      // Speculative runs wait until cancelled (aborted): the stage is stuck until the head cancels.
      run: (batch: StageBatch, signal?: AbortSignal): Promise<StageResult> => {
        started.push(batch.positions.length);
        return new Promise((_, reject) => {
          if (signal?.aborted === true) reject(new Error("aborted"));
          signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        });
      },
      kv: (op) => {
        kvs.push(op.op);
        return Promise.resolve();
      },
    };
    const t = setup({ runner, items, bytes });
    await t.head.ready;
    const total = 10;
    for (let id = 1; id <= total; id++) {
      const { msg, body } = run(id, 1, 16, "speculative");
      t.head.send(msg, body);
    }
    // One run computing, four in the window: the rest wait in the sender's lane.
    await expect.poll(() => t.head.stats.runsOutstanding).toBe(4);
    expect(t.head.queuedBytes()).toBeGreaterThan(0);
    // A kv op queued behind waiting runs keeps its place; a cancel (control lane) goes at once.
    t.head.send({ type: "kv", op: { op: "clear" } });
    t.head.send(
      { type: "cancel", runIds: Array.from({ length: total }, (_, i) => i + 1) },
      undefined,
      "control",
    );
    await expect.poll(() => t.seen.skips).toBe(total);
    await expect.poll(() => kvs).toEqual(["clear"]);
    expect(t.seen.errors).toEqual([]);
    expect(t.closed()).toBeUndefined();
    expect(t.head.stats.runsOutstanding).toBe(0);
    expect(t.head.queuedBytes()).toBe(0);
    // With the window full (the run computing counts until it is done) and no run waiting in the lane, a
    // kv op leaves at once.
    for (let id = total + 1; id <= total + 4; id++) {
      const { msg, body } = run(id, 1, 16, "speculative");
      t.head.send(msg, body);
    }
    await expect.poll(() => t.head.stats.runsOutstanding).toBe(4);
    await expect.poll(() => t.head.queuedBytes()).toBe(0);
    const queued = t.server.stats.queued;
    t.head.send({ type: "kv", op: { op: "seq_keep", seq: 0 } });
    await expect.poll(() => t.server.stats.queued).toBe(queued + 1);
    expect(t.head.stats.runsOutstanding).toBe(4); // the window is still full
    expect(kvs).toEqual(["clear"]); // applied in order, after the runs ahead of it
    t.server.destroy();
  });

  it("a run larger than the byte window goes alone instead of waiting forever", async () => {
    const t = setup({ runner: slowRunner(2), items, bytes: 4 * MiB }); // 2 MiB wire window
    await t.head.ready;
    for (let id = 1; id <= 3; id++) {
      const { msg, body } = run(id, 768, 1024); // 3 MiB f32: fits the 4 MiB queue, not the 2 MiB window
      t.head.send(msg, body);
    }
    await expect.poll(() => t.seen.results).toBe(3);
    expect(t.seen.errors).toEqual([]);
    t.server.destroy();
  });

  it("a sender with credit talks to a receiver without it unmetered", async () => {
    const [a, b] = createMemoryChannelPair();
    const sender = new Link(a, { localId: "a", remoteId: "b" });
    const receiver = new Link(b, { localId: "b", remoteId: "a", credit: false });
    let got = 0;
    receiver.listen({ message: (m) => void (m.type === "run" && got++), close: () => {} });
    await sender.ready;
    for (let id = 1; id <= 100; id++) {
      const { msg, body } = run(id, 1, 16);
      sender.send(msg, body);
    }
    await expect.poll(() => got).toBe(100);
    expect(sender.metered).toBe(false);
    expect(sender.stats.creditWaits).toBe(0);
    sender.destroy();
    receiver.destroy();
  });
});

describe("v2 additive fields on the wire", () => {
  it("decodes a room model's maxMessageBytes, and refuses one too small for control messages", () => {
    const model = { id: "m", layerCount: 2, layerBytes: 1, embedBytes: 0, headBytes: 0 };
    const create = (maxMessageBytes: unknown) =>
      decodeSignal({ type: "create", v: 2, model: { ...model, maxMessageBytes } });
    expect(create(3 * MiB)).toMatchObject({
      ok: true,
      msg: { model: { maxMessageBytes: 3 * MiB } },
    });
    expect(create(1024).ok).toBe(false);
    expect(create(1.5 * MiB + 0.5).ok).toBe(false);
    expect(modelMessageBytes({ hiddenSize: 4096, vocabSize: 128_256 })).toBe(
      Math.max(256 * 4096 * 4, 64 * 128_256 * 4) + MiB,
    );
  });

  it("decodes hello.credit and ping.credit, and refuses malformed credit", () => {
    expect(decodePeer({ type: "hello", v: 2, minV: 2, peerId: "p", credit: true })).toMatchObject({
      ok: true,
      msg: { credit: true },
    });
    const hello = decodePeer({ type: "hello", v: 2, minV: 2, peerId: "p", credit: "yes" });
    expect(hello.ok && hello.msg.type === "hello" && hello.msg.credit).toBeFalsy();
    const credit = { done: 3, doneBytes: 4096, runs: 4, bytes: MiB };
    expect(decodePeer({ type: "ping", v: 2, t: 1, credit })).toEqual({
      ok: true,
      msg: { type: "ping", v: 2, t: 1, credit },
    });
    for (const bad of [
      { ...credit, runs: 0 },
      { ...credit, bytes: 0 },
      { ...credit, done: -1 },
      { ...credit, doneBytes: 1.5 },
      "4",
    ])
      expect(decodePeer({ type: "ping", v: 2, t: 1, credit: bad }).ok).toBe(false);
  });
});
