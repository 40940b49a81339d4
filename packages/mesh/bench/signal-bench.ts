// `npm run bench:signal`: the signaling server under load on loopback. The server runs in its own process
// (so its memory is its own) with 100 rooms; 1000 WebSocket clients join them, 10 per room, each relays
// signals to the next member of its room. Reports join latency (p50/p99, connect to `joined`), relayed
// messages lost, and server memory per connection (heap and RSS, after GC). Options: --clients N
// --rooms N --signals N (per client) --json.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket from "ws";

interface ServerReply {
  port?: number;
  rooms?: { roomId: string; secret: string }[];
  mem?: { heapUsed: number; rss: number };
}

const CAPS = {
  platform: "node",
  adapter: { description: "bench", limits: {} },
  memoryBudgetBytes: 1 << 30,
  matmulGflops: 1,
  models: [],
};

// --- server process -------------------------------------------------------------------------------------

async function serverMain(rooms: number): Promise<void> {
  const { startSignalingServer } = await import("../src/node/signaling-server.ts");
  const server = await startSignalingServer({ port: 0 });
  const model = { id: "bench", layerCount: 32, layerBytes: 1 << 20, embedBytes: 0, headBytes: 0 };
  const created = Array.from({ length: rooms }, () => server.relay.createRoom(model));
  const memory = (): { heapUsed: number; rss: number } => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, rss: m.rss };
  };
  process.on("message", (m: string) => {
    if (m === "mem") process.send?.({ mem: memory() } satisfies ServerReply);
    if (m === "stop") void server.close().then(() => process.exit(0));
  });
  process.send?.({ port: server.port, rooms: created, mem: memory() } satisfies ServerReply);
}

// --- clients ----------------------------------------------------------------------------------------------

function ask(child: ChildProcess, msg: string | null): Promise<ServerReply> {
  return new Promise((resolve) => {
    child.once("message", (m: ServerReply) => resolve(m));
    if (msg !== null) child.send(msg);
  });
}

interface Client {
  ws: WebSocket;
  peerId: string;
  room: number;
  received: number;
}

function joinOne(
  url: string,
  room: { roomId: string; secret: string },
  index: number,
): Promise<{ client: Client; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const ws = new WebSocket(url);
    const client: Client = { ws, peerId: "", room: index, received: 0 };
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "join", v: 2, minV: 2, ...room, role: "stage", caps: CAPS })),
    );
    ws.on("message", (data: Buffer) => {
      const m = JSON.parse(data.toString("utf8")) as { type: string; peerId?: string };
      if (m.type === "joined" && m.peerId !== undefined) {
        client.peerId = m.peerId;
        resolve({ client, ms: performance.now() - t0 });
      } else if (m.type === "signal") client.received++;
      else if (m.type === "error") reject(new Error(data.toString("utf8")));
    });
    ws.on("error", reject);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function benchMain(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: "string" },
      rooms: { type: "string" },
      signals: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const clients = Number(values.clients ?? 1000);
  const roomCount = Number(values.rooms ?? 100);
  const signals = Number(values.signals ?? 10);
  const child = fork(fileURLToPath(import.meta.url), ["--server", String(roomCount)], {
    execArgv: ["--import", "tsx", "--expose-gc"],
  });
  const ready = await ask(child, null);
  const rooms = ready.rooms ?? [];
  const url = `ws://127.0.0.1:${ready.port}/signal`;
  const before = ready.mem ?? { heapUsed: 0, rss: 0 };

  const t0 = performance.now();
  const joined: Client[] = [];
  const joinMs: number[] = [];
  for (let i = 0; i < clients; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, clients - i) }, (_, k) => {
        const index = (i + k) % roomCount;
        return joinOne(url, rooms[index] as { roomId: string; secret: string }, index);
      }),
    );
    for (const b of batch) {
      joined.push(b.client);
      joinMs.push(b.ms);
    }
  }
  const joinWallMs = performance.now() - t0;
  const after = (await ask(child, "mem")).mem ?? before;

  // Each client relays `signals` offers to the next member of its room.
  const byRoom = new Map<number, Client[]>();
  for (const c of joined) byRoom.set(c.room, [...(byRoom.get(c.room) ?? []), c]);
  let sent = 0;
  for (const members of byRoom.values()) {
    members.forEach((c, i) => {
      const to = members[(i + 1) % members.length];
      if (to === undefined || to === c) return;
      for (let s = 0; s < signals; s++) {
        c.ws.send(
          JSON.stringify({
            type: "signal",
            v: 2,
            to: to.peerId,
            connId: `1/${c.peerId}/${to.peerId}#1`,
            data: { type: "offer", sdp: "v=0 bench" },
          }),
        );
        sent++;
      }
    });
  }
  const received = (): number => joined.reduce((n, c) => n + c.received, 0);
  const deadline = performance.now() + 10_000;
  while (received() < sent && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));

  for (const c of joined) c.ws.terminate();
  child.send("stop");
  const sorted = [...joinMs].sort((a, b) => a - b);
  const result = {
    clients: joined.length,
    rooms: roomCount,
    joinP50Ms: percentile(sorted, 50),
    joinP99Ms: percentile(sorted, 99),
    joinWallMs,
    signalsSent: sent,
    signalsLost: sent - received(),
    heapPerConnectionBytes: (after.heapUsed - before.heapUsed) / joined.length,
    rssPerConnectionBytes: (after.rss - before.rss) / joined.length,
    node: process.version,
  };
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
  process.stdout.write(
    [
      `signaling bench: ${result.clients} clients in ${result.rooms} rooms on loopback (${result.node})`,
      `  join (connect to joined): p50 ${result.joinP50Ms.toFixed(1)} ms, p99 ${result.joinP99Ms.toFixed(1)} ms; all joined in ${(joinWallMs / 1000).toFixed(2)} s (50 at a time)`,
      `  relayed signals: ${result.signalsSent} sent, ${result.signalsLost} lost`,
      `  server memory per connection: heap ${kib(result.heapPerConnectionBytes)}, RSS ${kib(result.rssPerConnectionBytes)}`,
      "",
    ].join("\n"),
  );
}

if (process.argv[2] === "--server") await serverMain(Number(process.argv[3] ?? 100));
else await benchMain();
