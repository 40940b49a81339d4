// The one check before the server binds: a non-loopback address serves the app, the models and signaling to
// the network, which needs TLS here (--tls-cert/--tls-key) or a TLS-terminating reverse proxy in front
// (--behind-proxy), and an HTTP API served alongside needs a key; otherwise ERR_INSECURE_BIND. Also says,
// in one line, what is exposed and how.

import { MeshError } from "../errors.ts";

export interface Exposure {
  host: string;
  port: number;
  tls: boolean;
  behindProxy: boolean;
  /** An HTTP API is served on the same port; `keyed`: it requires a bearer key. */
  api?: { keyed: boolean } | undefined;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Throws ERR_INSECURE_BIND for plain HTTP/WS on a non-loopback address; else describes the exposure. */
export function checkExposure(e: Exposure): string {
  const where = `${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
  if (isLoopbackHost(e.host))
    return `${where} is loopback: the app, models and signaling are reachable from this machine only`;
  if (!e.tls && !e.behindProxy) {
    throw new MeshError(
      "ERR_INSECURE_BIND",
      `${where} is reachable from the network, but plain HTTP/WS would carry room secrets in clear text; ` +
        "pass --tls-cert and --tls-key (HTTPS/WSS here) or --behind-proxy (a reverse proxy terminates TLS)",
    );
  }
  if (e.api !== undefined && !e.api.keyed) {
    throw new MeshError(
      "ERR_INSECURE_BIND",
      `${where} is reachable from the network, and the API would run anyone's prompts on the room's ` +
        "contributors; set an API key (--api-key or PIPEMESH_API_KEY)",
    );
  }
  return e.tls
    ? `${where} is reachable from the network over HTTPS/WSS: the web app, the models under /models/ and ` +
        "signaling (anyone who can reach it can load the app and models; rooms need their secret)"
    : `${where} serves plain HTTP/WS for a reverse proxy that must terminate TLS; anything that reaches ` +
        "this port directly sees room secrets in clear text, so firewall it to the proxy";
}
