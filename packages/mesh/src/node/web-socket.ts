// Node glue for the browser-shaped client code: a WebSocket factory built on `ws` (Node 20 has no global
// WebSocket) and the RTC options that keep node-datachannel's ICE on loopback when asked.

import WebSocket from "ws";
import type { WebSocketFactory, WebSocketLike } from "../signaling/client.ts";
import type { RtcOptions } from "../transport/peer-channel.ts";
import type { IceServer } from "../protocol/messages.ts";
import { retainNodeRtc } from "./rtc-keepalive.ts";

export const nodeWebSocketFactory: WebSocketFactory = (url: string): WebSocketLike => {
  const ws = new WebSocket(url);
  const like: WebSocketLike = {
    get readyState() {
      return ws.readyState;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
  ws.on("open", () => like.onopen?.(undefined));
  ws.on("message", (data, isBinary) => {
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : data instanceof ArrayBuffer
        ? Buffer.from(new Uint8Array(data))
        : data;
    like.onmessage?.({ data: isBinary ? bytes : bytes.toString("utf8") });
  });
  ws.on("close", (code, reason) => like.onclose?.({ code, reason: reason.toString() }));
  ws.on("error", (e) => like.onerror?.(e)); // always listened: an unheard ws error would throw
  return like;
};

/** True for ws://127.0.0.1..., ws://localhost..., ws://[::1]... */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * RTC options for node-datachannel. With `loopbackOnly`, ICE binds 127.0.0.1 (libjuice skips loopback
 * otherwise) and non-loopback candidates are dropped; without it, every interface is gathered and the ICE
 * servers (STUN/TURN from configuration) are used.
 */
export function nodeRtcOptions(options: {
  loopbackOnly: boolean;
  iceServers?: IceServer[];
}): RtcOptions {
  return {
    retain: retainNodeRtc,
    loopbackOnly: options.loopbackOnly,
    ...(options.loopbackOnly ? { extraConfig: { bindAddress: "127.0.0.1" } } : {}),
    ...(options.iceServers === undefined ? {} : { iceServers: options.iceServers }),
  };
}
