// The mesh in a browser page (bundled by Vite with the repo's vite.config.ts): two WebRTC data channels in
// one page carry a chunked 3 MiB message through Links, then a stage peer and a head join a room through the
// real signaling server (the page's own WebSocket) and run one pipeline step. Reports on window.result.
import {
  connectPeer,
  HeadNode,
  Link,
  PeerNode,
  SignalingClient,
  type LoadStage,
  type PeerCapabilities,
  type StageRunner,
} from "../../src/index.ts";

const out: Record<string, unknown> = {};
const w = window as unknown as { result: unknown };
w.result = null;

async function links(): Promise<void> {
  const box: { a?: ReturnType<typeof connectPeer>; b?: ReturnType<typeof connectPeer> } = {};
  box.a = connectPeer({
    initiator: true,
    loopbackOnly: true,
    onSignal: (s) => queueMicrotask(() => box.b?.signal(s)),
  });
  box.b = connectPeer({
    initiator: false,
    loopbackOnly: true,
    onSignal: (s) => queueMicrotask(() => box.a?.signal(s)),
  });
  const [ca, cb] = await Promise.all([box.a.channel, box.b.channel]);
  out["maxMessageBytes"] = ca.maxMessageBytes;
  const la = new Link(ca, { localId: "a", remoteId: "b" });
  const lb = new Link(cb, { localId: "b", remoteId: "a" });
  await Promise.all([la.ready, lb.ready]);
  const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  const back = await new Promise<Uint8Array>((resolve) => {
    lb.listen({
      message: (m, bytes) => (m.type === "result" ? resolve(bytes) : undefined),
      close: () => {},
    });
    la.send({ type: "result", runId: 1, stageComputeMs: 0, outputs: [] }, body);
  });
  out["bigMessageIntact"] =
    back.byteLength === body.byteLength && back.every((x, i) => x === body[i]);
  la.destroy();
  lb.destroy();
}

async function room(): Promise<void> {
  const url = `ws://${location.host}/signal`;
  const admin = await SignalingClient.connect(url);
  const r = await admin.createRoom({
    id: "toy",
    layerCount: 2,
    layerBytes: 1,
    embedBytes: 0,
    headBytes: 0,
  });
  admin.destroy();
  // Head: hidden = token * 10; tail: argmax = hidden + 1.
  const runner = (tail: boolean): StageRunner => ({
    run: (b) =>
      Promise.resolve(
        tail
          ? {
              outputs: [
                {
                  row: 0,
                  argmax: (b.hidden?.[0] ?? -1) + 1,
                  prob: 1,
                  topIds: Int32Array.of(0),
                  topProbs: Float32Array.of(1),
                },
              ],
            }
          : {
              hidden: Float32Array.from(
                { length: b.positions.length * 4 },
                () => (b.tokens?.[0] ?? 0) * 10,
              ),
            },
      ),
    kv: () => Promise.resolve(),
  });
  const loadStage: LoadStage = (spec) => Promise.resolve(runner(spec.tail));
  const caps: PeerCapabilities = {
    platform: "browser",
    adapter: { description: "test", limits: {} },
    memoryBudgetBytes: 1e9,
    matmulGflops: 1,
    models: [],
  };
  const opts = {
    url,
    roomId: r.roomId,
    secret: r.secret,
    caps,
    loadStage,
    rtc: { loopbackOnly: true },
  };
  const stage = await PeerNode.join(opts);
  const head = await HeadNode.join(opts);
  const session = await head.acquire({ timeoutMs: 30_000 });
  session.pipeline.launch({
    runId: 1,
    kind: "canonical",
    tokens: Int32Array.of(4),
    positions: Int32Array.of(0),
    seqIds: [[0]],
    outputRows: Int32Array.of(0),
  });
  const o = await session.pipeline.next();
  out["roomArgmax"] = o.status === "done" ? o.outputs[0]?.argmax : o.status;
  session.release();
  head.destroy();
  stage.destroy();
}

links()
  .then(room)
  .then(
    () => (w.result = { ok: true, ...out }),
    (e: unknown) => (w.result = { ok: false, error: String(e), ...out }),
  );
