// Two WebRTC peers in one process connected through an in-memory signal exchange (no server): for
// transport tests over real data channels (node-datachannel via simple-peer, ICE on 127.0.0.1 only).

import type { ByteChannel } from "../../src/transport/channel.ts";
import { connectPeer, type PeerConnection } from "../../src/transport/peer-channel.ts";
import { nodeRtcOptions } from "../../src/node/web-socket.ts";
import type { RtcSignal } from "../../src/protocol/messages.ts";

export interface RtcPair {
  a: ByteChannel;
  b: ByteChannel;
  /** Candidates each side signalled (to check loopback-only). */
  candidates: string[];
  destroy(): void;
}

/**
 * Connects a pair, retrying with fresh connections: libdatachannel under load sometimes rejects a valid
 * answer ("Got a remote candidate without ICE transport"); the Connector retries the same way.
 */
export async function connectRtcPair(attempts = 3): Promise<RtcPair> {
  for (let i = 1; ; i++) {
    try {
      return await connectOnce();
    } catch (e) {
      if (i >= attempts) throw e;
    }
  }
}

async function connectOnce(): Promise<RtcPair> {
  const candidates: string[] = [];
  let pa: PeerConnection | null = null;
  let pb: PeerConnection | null = null;
  const relay = (to: () => PeerConnection | null) => (s: RtcSignal) => {
    if (s.type === "candidate") candidates.push(s.candidate.candidate);
    queueMicrotask(() => to()?.signal(s));
  };
  const rtc = nodeRtcOptions({ loopbackOnly: true });
  const release = rtc.retain?.() ?? (() => {});
  pa = connectPeer({ ...rtc, initiator: true, onSignal: relay(() => pb) });
  pb = connectPeer({ ...rtc, initiator: false, onSignal: relay(() => pa) });
  let a: ByteChannel;
  let b: ByteChannel;
  try {
    [a, b] = await Promise.all([pa.channel, pb.channel]);
  } catch (e) {
    pa.destroy();
    pb.destroy();
    release();
    throw e;
  }
  return {
    a,
    b,
    candidates,
    destroy() {
      pa?.destroy();
      pb?.destroy();
      release();
    },
  };
}
