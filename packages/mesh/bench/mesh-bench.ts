// `npm run bench:mesh`: the mesh's transport numbers on this machine, printed as markdown tables.
// 1. Per-hop latency and throughput of activation frames through a Link over a WebRTC data channel
//    (node-datachannel, loopback) against the same Link over a loopback WebSocket, and a raw WebSocket.
// 2. Time from join to a ready pipeline for 2 to 8 stage peers (no weight loading: shards are instant).
// 3. Per-token pipeline round trip (1 row, hidden 4096 f32) through 1 to 4 WebRTC stages vs in-process.
// Options: --quick (smaller volumes). All peers run in this one process; numbers include its CPU contention.

import { WebSocketServer, WebSocket } from "ws";
import type { ByteChannel } from "../src/transport/channel.ts";
import { Link } from "../src/transport/link.ts";
import { connectPeer } from "../src/transport/peer-channel.ts";
import { nodeRtcOptions, nodeWebSocketFactory } from "../src/node/web-socket.ts";
import { startSignalingServer } from "../src/node/signaling-server.ts";
import { SignalingClient } from "../src/signaling/client.ts";
import { PeerNode } from "../src/room/peer-node.ts";
import { HeadNode } from "../src/room/head-node.ts";
import { LocalPipeline } from "../src/pipeline/local-pipeline.ts";
import { encodeRun } from "../src/pipeline/wire.ts";
import type { PipelinePort, StageBatch, StageResult, StageRunner } from "../src/ports.ts";
import type { PeerCapabilities } from "../src/protocol/messages.ts";
import type { LoadStage } from "../src/room/shard-slot.ts";
import { WsChannel } from "./ws-channel.ts";

const quick = process.argv.includes("--quick");
const MiB = 1024 * 1024;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- channel pairs -------------------------------------------------------------------------------------------

interface Pair {
  a: ByteChannel;
  b: ByteChannel;
  close(): void;
}

async function rtcPair(): Promise<Pair> {
  const rtc = nodeRtcOptions({ loopbackOnly: true });
  const release = rtc.retain?.() ?? (() => {});
  for (let attempt = 1; ; attempt++) {
    const box: { a?: ReturnType<typeof connectPeer>; b?: ReturnType<typeof connectPeer> } = {};
    box.a = connectPeer({
      ...rtc,
      initiator: true,
      onSignal: (s) => queueMicrotask(() => box.b?.signal(s)),
    });
    box.b = connectPeer({
      ...rtc,
      initiator: false,
      onSignal: (s) => queueMicrotask(() => box.a?.signal(s)),
    });
    try {
      const [a, b] = await Promise.all([box.a.channel, box.b.channel]);
      return {
        a,
        b,
        close() {
          box.a?.destroy();
          box.b?.destroy();
          a.close();
          b.close();
          release();
        },
      };
    } catch (e) {
      box.a.destroy();
      box.b.destroy();
      if (attempt >= 5) throw e; // libdatachannel's occasional connect race: retry like the Connector does
    }
  }
}

async function wsServer(): Promise<{ url: string; next: () => Promise<WebSocket>; close(): void }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const address = wss.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const waiting: ((ws: WebSocket) => void)[] = [];
  wss.on("connection", (ws) => waiting.shift()?.(ws));
  return {
    url: `ws://127.0.0.1:${port}`,
    next: () => new Promise((r) => waiting.push(r)),
    close: () => wss.close(),
  };
}

async function wsPair(): Promise<Pair & { rawA: WebSocket; rawB: WebSocket }> {
  const server = await wsServer();
  const accepted = server.next();
  const client = new WebSocket(server.url);
  await new Promise((r, j) => {
    client.once("open", r);
    client.once("error", j);
  });
  const peer = await accepted;
  return {
    a: new WsChannel(client),
    b: new WsChannel(peer),
    rawA: client,
    rawB: peer,
    close() {
      client.close();
      peer.close();
      server.close();
    },
  };
}

async function links(p: Pair): Promise<[Link, Link]> {
  const a = new Link(p.a, { localId: "a", remoteId: "b", highWaterBytes: 4 * MiB });
  const b = new Link(p.b, { localId: "b", remoteId: "a", highWaterBytes: 4 * MiB });
  await Promise.all([a.ready, b.ready]);
  return [a, b];
}

// --- 1. activation frames ------------------------------------------------------------------------------------

interface Shape {
  rows: number;
  cols: number;
}

function runMessage(shape: Shape, runId: number): ReturnType<typeof encodeRun> {
  const hidden = new Float32Array(shape.rows * shape.cols).fill(0.5);
  return encodeRun(
    {
      runId,
      kind: "canonical",
      positions: Int32Array.from({ length: shape.rows }, (_, i) => i),
      seqIds: Array.from({ length: shape.rows }, () => [0]),
      outputRows: Int32Array.of(shape.rows - 1),
      stageComputeMs: 0,
    },
    hidden,
    "f32",
  );
}

/** Round trips of one run message (a -> b -> a), one at a time. */
async function linkLatency(a: Link, b: Link, shape: Shape, iters: number): Promise<number[]> {
  const { msg, body } = runMessage(shape, 1);
  b.listen({
    message: (m, bytes) => (m.type === "run" ? b.send(msg, bytes) : undefined),
    close: () => {},
  });
  let resolve: () => void = () => {};
  a.listen({ message: () => resolve(), close: () => {} });
  const rtts: number[] = [];
  for (let i = 0; i < iters + 3; i++) {
    const t0 = performance.now();
    const back = new Promise<void>((r) => (resolve = r));
    a.send(msg, body);
    await back;
    if (i >= 3) rtts.push(performance.now() - t0); // first rounds warm up
  }
  return rtts;
}

/** One-way streaming: MiB/s from the first send to the last message received. */
async function linkThroughput(a: Link, b: Link, shape: Shape, totalBytes: number): Promise<number> {
  const { msg, body } = runMessage(shape, 1);
  const count = Math.max(4, Math.ceil(totalBytes / body.byteLength));
  let got = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  b.listen({
    message: () => {
      if (++got === count) done();
    },
    close: () => {},
  });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    a.send(msg, body);
    await a.whenWritable(); // the sender's backpressure, as a stage does it
  }
  await all;
  return (count * body.byteLength) / MiB / ((performance.now() - t0) / 1000);
}

async function rawWsLatency(
  a: WebSocket,
  b: WebSocket,
  bytes: number,
  iters: number,
): Promise<number[]> {
  const payload = Buffer.alloc(bytes, 7);
  b.on("message", (d: Buffer) => b.send(d, { binary: true }));
  const rtts: number[] = [];
  for (let i = 0; i < iters + 3; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      a.once("message", () => r());
      a.send(payload, { binary: true });
    });
    if (i >= 3) rtts.push(performance.now() - t0);
  }
  b.removeAllListeners("message");
  return rtts;
}

async function rawWsThroughput(
  a: WebSocket,
  b: WebSocket,
  bytes: number,
  totalBytes: number,
): Promise<number> {
  const payload = Buffer.alloc(bytes, 7);
  const count = Math.max(4, Math.ceil(totalBytes / bytes));
  let got = 0;
  const all = new Promise<void>((r) =>
    b.on("message", () => {
      if (++got === count) r();
    }),
  );
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    a.send(payload, { binary: true });
    while (a.bufferedAmount > 4 * MiB) await sleep(1);
  }
  await all;
  b.removeAllListeners("message");
  return (count * bytes) / MiB / ((performance.now() - t0) / 1000);
}

async function benchFrames(): Promise<void> {
  const shapes: (Shape & { label: string })[] = [
    { rows: 1, cols: 2048, label: "1 x 2048 (8 KiB, one decode token)" },
    { rows: 8, cols: 4096, label: "8 x 4096 (128 KiB, a speculative micro-batch)" },
    { rows: 64, cols: 4096, label: "64 x 4096 (1 MiB, a prefill chunk)" },
    { rows: 512, cols: 4096, label: "512 x 4096 (8 MiB, a long prefill)" },
  ];
  const total = (quick ? 16 : 64) * MiB;
  console.log("\n### Activation frames: one hop, loopback\n");
  console.log(
    `One-way latency = round trip / 2 (p50 / p90 ms); throughput streams ${total / MiB} MiB one way.\n`,
  );
  console.log(
    "| activations [rows x hidden] f32 | WebRTC Link: one-way ms | WebSocket Link: one-way ms | raw WebSocket: one-way ms | WebRTC Link MiB/s | WebSocket Link MiB/s | raw WebSocket MiB/s |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const shape of shapes) {
    const bytes = shape.rows * shape.cols * 4;
    const iters = bytes >= 8 * MiB ? (quick ? 5 : 10) : quick ? 20 : 50;
    const rtc = await rtcPair();
    const [ra, rb] = await links(rtc);
    const rtcLat = await linkLatency(ra, rb, shape, iters);
    const rtcTp = await linkThroughput(ra, rb, shape, total);
    ra.destroy();
    rb.destroy();
    rtc.close();
    const ws = await wsPair();
    const [wa, wb] = await links(ws);
    const wsLat = await linkLatency(wa, wb, shape, iters);
    const wsTp = await linkThroughput(wa, wb, shape, total);
    wa.destroy();
    wb.destroy();
    ws.close();
    const raw = await wsPair();
    const rawLat = await rawWsLatency(raw.rawA, raw.rawB, bytes, iters);
    const rawTp = await rawWsThroughput(raw.rawA, raw.rawB, bytes, total);
    raw.close();
    const ow = (xs: number[]): string => `${f(pct(xs, 50) / 2)} / ${f(pct(xs, 90) / 2)}`;
    console.log(
      `| ${shape.label} | ${ow(rtcLat)} | ${ow(wsLat)} | ${ow(rawLat)} | ${f(rtcTp, 1)} | ${f(wsTp, 1)} | ${f(rawTp, 1)} |`,
    );
  }
}

// --- 2 and 3: rooms ------------------------------------------------------------------------------------------

const HIDDEN = 4096;
const LAYERS = 32;

/** A stage that does no maths: hidden states pass through; the tail returns token 0. */
class PassThrough implements StageRunner {
  readonly #embeds: boolean;
  readonly #tail: boolean;
  constructor(embeds: boolean, tail: boolean) {
    this.#embeds = embeds;
    this.#tail = tail;
  }
  run(batch: StageBatch): Promise<StageResult> {
    const rows = batch.positions.length;
    if (this.#tail) {
      return Promise.resolve({
        outputs: Array.from(batch.outputRows, (row) => ({
          row,
          argmax: 0,
          prob: 1,
          topIds: Int32Array.of(0),
          topProbs: Float32Array.of(1),
        })),
      });
    }
    return Promise.resolve({
      hidden: this.#embeds
        ? new Float32Array(rows * HIDDEN)
        : (batch.hidden ?? new Float32Array(rows * HIDDEN)),
    });
  }
  kv(): Promise<void> {
    return Promise.resolve();
  }
}

const loader: LoadStage = (spec) => Promise.resolve(new PassThrough(spec.embeds, spec.tail));
const caps: PeerCapabilities = {
  platform: "node",
  adapter: { description: "bench", limits: {} },
  memoryBudgetBytes: 1e12,
  matmulGflops: 1,
  models: [],
};

async function room(stages: number): Promise<{
  joinMs: number;
  readyMs: number;
  session: Awaited<ReturnType<HeadNode["acquire"]>>;
  close(): Promise<void>;
}> {
  const server = await startSignalingServer({ port: 0 });
  const admin = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
  const r = await admin.createRoom({
    id: "bench",
    layerCount: LAYERS,
    layerBytes: 1,
    embedBytes: 0,
    headBytes: 0,
  });
  admin.destroy();
  const common = {
    url: server.url,
    roomId: r.roomId,
    secret: r.secret,
    caps,
    loadStage: loader,
    webSocket: nodeWebSocketFactory,
    rtc: nodeRtcOptions({ loopbackOnly: true }),
  };
  const t0 = performance.now();
  const peers = await Promise.all(Array.from({ length: stages }, () => PeerNode.join(common)));
  const head = await HeadNode.join(common);
  const joinMs = performance.now() - t0;
  const session = await head.acquire({ timeoutMs: 120_000 });
  const readyMs = performance.now() - t0;
  return {
    joinMs,
    readyMs,
    session,
    async close() {
      session.release();
      head.destroy();
      peers.forEach((p) => p.destroy());
      await server.close();
    },
  };
}

async function tokenRoundTrip(pipe: PipelinePort, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    pipe.launch({
      runId: i + 1,
      kind: "canonical",
      tokens: Int32Array.of(1),
      positions: Int32Array.of(i),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
    });
    await pipe.next();
    if (i >= 3) ms.push(performance.now() - t0);
  }
  return ms;
}

async function benchRooms(): Promise<void> {
  console.log("\n### Join to ready (no weight loading)\n");
  console.log(
    "From the first stage peer's join to the head holding a connected pipeline (signaling, plan, WebRTC to every neighbour, hellos); all peers in this process.\n",
  );
  console.log("| stage peers | all joined (ms) | pipeline ready (ms) |");
  console.log("|---|---|---|");
  for (const n of [2, 4, 6, 8]) {
    const reps = quick ? 1 : 3;
    const joins: number[] = [];
    const readies: number[] = [];
    for (let k = 0; k < reps; k++) {
      const r = await room(n);
      joins.push(r.joinMs);
      readies.push(r.readyMs);
      await r.close();
      await sleep(200);
    }
    console.log(
      `| ${n} | ${f(pct(joins, 50), 0)} | ${f(pct(readies, 50), 0)} (min ${f(Math.min(...readies), 0)}, max ${f(Math.max(...readies), 0)}) |`,
    );
  }

  console.log("\n### Per-token pipeline round trip (1 row, hidden 4096 f32, stages do no maths)\n");
  console.log(
    "| stages | in-process LocalPipeline p50 ms | WebRTC p50 / p90 ms | WebRTC per hop p50 ms |",
  );
  console.log("|---|---|---|---|");
  for (const n of [1, 2, 3, 4]) {
    const local = new LocalPipeline({
      runners: [
        new PassThrough(true, false),
        ...Array.from({ length: n }, (_, i) => new PassThrough(false, i === n - 1)),
      ],
    });
    const localMs = await tokenRoundTrip(local, quick ? 50 : 200);
    local.destroy();
    const r = await room(n);
    const meshMs = await tokenRoundTrip(r.session.pipeline, quick ? 50 : 200);
    await r.close();
    console.log(
      `| ${n} | ${f(pct(localMs, 50), 3)} | ${f(pct(meshMs, 50))} / ${f(pct(meshMs, 90))} | ${f(pct(meshMs, 50) / (n + 1))} |`,
    );
    await sleep(200);
  }
}

console.log(
  `## Mesh benchmark (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${quick ? "quick" : "full"})`,
);
await benchFrames();
await benchRooms();
process.exit(0);
