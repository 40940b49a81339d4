// In-memory WebSockets onto a Relay: a WebSocketFactory whose sockets feed the relay's sessions and get
// its replies and closes asynchronously (one microtask later, in order), as a network socket would. Lets
// unit tests run the real SignalingClient and PeerNode against the real relay without a server.

import type { Relay } from "../../src/signaling/relay.ts";
import type { WebSocketFactory, WebSocketLike } from "../../src/signaling/client.ts";

export function relaySocketFactory(relay: Relay): WebSocketFactory {
  return () => {
    let closed = false;
    const finish = (code: number, reason: string): void => {
      if (closed) return;
      closed = true;
      ws.readyState = 3;
      queueMicrotask(() => ws.onclose?.({ code, reason }));
    };
    const ws: WebSocketLike & { readyState: number } = {
      readyState: 0,
      send: (data) => {
        if (!closed) session.receive(data);
      },
      close: (code, reason) => {
        if (closed) return;
        session.closed();
        finish(code ?? 1000, reason ?? "");
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
    };
    const session = relay.open({
      send: (text) => {
        if (!closed) queueMicrotask(() => ws.onmessage?.({ data: text }));
      },
      close: (code, reason) => finish(code, reason),
    });
    queueMicrotask(() => {
      ws.readyState = 1;
      ws.onopen?.({});
    });
    return ws;
  };
}
