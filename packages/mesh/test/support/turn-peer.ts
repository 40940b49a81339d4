// A WebRTC peer for the TURN test, run as a child process inside a network namespace (through ts-child.mjs):
// argv: "initiator" | "answerer", then the ICE servers as JSON. Signals travel as JSON lines on stdout and
// stdin (the test relays them); once the data channel opens, the initiator sends a ping and the answerer
// echoes it. Prints {"result": "ok" | error, "candidates": [types]} and exits.

import { createInterface } from "node:readline";
import { connectPeer } from "../../src/transport/peer-channel.ts";
import { retainNodeRtc } from "../../src/node/rtc-keepalive.ts";
import type { IceServer, RtcSignal } from "../../src/protocol/messages.ts";

const role = process.argv[3];
const iceServers = JSON.parse(process.argv[4] ?? "[]") as IceServer[];
const candidates: string[] = [];
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const release = retainNodeRtc();

const peer = connectPeer({
  initiator: role === "initiator",
  iceServers,
  connectTimeoutMs: Number(process.env["TURN_PEER_TIMEOUT_MS"] ?? 8000),
  onSignal: (s: RtcSignal) => {
    if (s.type === "candidate")
      candidates.push(/ typ (\w+)/.exec(s.candidate.candidate)?.[1] ?? "?");
    out({ signal: s });
  },
});
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line) as { signal?: RtcSignal };
  if (m.signal !== undefined) peer.signal(m.signal);
});

let finished = false;
/** Reports once; the connection stays up a moment so the other side can finish too. */
const finish = (result: string): void => {
  if (finished) return;
  finished = true;
  out({ result, candidates });
  setTimeout(() => {
    peer.destroy();
    release();
    process.exit(0);
  }, 1000);
};

peer.channel.then(
  (ch) => {
    ch.listen({
      message: (bytes) => {
        const text = new TextDecoder().decode(bytes);
        if (role === "answerer") {
          ch.send(new TextEncoder().encode(`echo:${text}`));
          finish("ok");
        } else if (text === "echo:ping") finish("ok");
      },
      close: (reason) => finish(`closed: ${reason ?? "?"}`),
      drain: () => {},
    });
    if (role === "initiator") ch.send(new TextEncoder().encode("ping"));
  },
  (e: unknown) => finish(e instanceof Error ? e.message : String(e)),
);
