// Request checks and headers for the HTTP server pipemesh owns (`pipemesh serve`): the Host header must name
// this server (localhost, 127.0.0.1, [::1], the bound host or every interface's address for a wildcard
// bind, the hosts of allowed origins), a present Origin must be one of the server's own origins or an
// allowed one (a missing Origin is allowed: non-browser clients), and every response carries security
// headers with a CSP that still lets the app run (wasm, blob: workers, the signaling socket, the models'
// origins).

import type { IncomingMessage } from "node:http";
import { networkInterfaces } from "node:os";

export interface HttpGuardOptions {
  /** The address the server is bound to. */
  host: string;
  port: number;
  tls: boolean;
  /** Extra origins allowed to open the signaling socket and fetch (e.g. the public https:// origin). */
  allowedOrigins?: readonly string[];
  /** Extra origins the app may connect to (a models URL on another host). */
  connectOrigins?: readonly string[];
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Lower-cased `host[:port]` without a default port. */
function normaliseHost(hostHeader: string): string {
  return hostHeader.trim().toLowerCase();
}

export class HttpGuard {
  readonly #hosts = new Set<string>();
  readonly #origins = new Set<string>();
  readonly #csp: string;

  constructor(o: HttpGuardOptions) {
    const names = new Set(LOOPBACK_NAMES);
    if (!WILDCARD_HOSTS.has(o.host)) names.add(bracket(o.host.toLowerCase()));
    else
      for (const list of Object.values(networkInterfaces()))
        for (const a of list ?? []) names.add(bracket(a.address.toLowerCase()));
    const scheme = o.tls ? "https" : "http";
    for (const name of names) {
      this.#hosts.add(`${name}:${o.port}`);
      this.#origins.add(`${scheme}://${name}:${o.port}`);
      if ((o.tls && o.port === 443) || (!o.tls && o.port === 80)) {
        this.#hosts.add(name);
        this.#origins.add(`${scheme}://${name}`);
      }
    }
    for (const raw of o.allowedOrigins ?? []) {
      const u = new URL(raw);
      this.#origins.add(u.origin.toLowerCase());
      this.#hosts.add(u.host.toLowerCase());
    }
    const connect = ["'self'", "blob:", "data:"];
    // CSP host sources cannot name IPv6 literals; 'self' covers the page's own ws(s) origin in browsers.
    for (const origin of this.#origins)
      if (!origin.includes("[")) connect.push(origin.replace(/^http/, "ws"));
    // Origins, or scheme sources like "https:" (a Hub's CDN is only known once its redirect arrives).
    for (const raw of o.connectOrigins ?? [])
      connect.push(/^[a-z][a-z0-9+.-]*:$/i.test(raw) ? raw.toLowerCase() : new URL(raw).origin);
    this.#csp = [
      "default-src 'self'",
      "script-src 'self' 'wasm-unsafe-eval' blob:",
      "worker-src 'self' blob:",
      `connect-src ${connect.join(" ")}`,
      "img-src 'self' data: blob:",
      "style-src 'self' 'unsafe-inline'",
      "object-src 'none'",
      "base-uri 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join("; ");
  }

  /** Security headers for every response. */
  headers(): Record<string, string> {
    return {
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
      "Content-Security-Policy": this.#csp,
    };
  }

  /** null when the request may proceed, else the status and a short reason. */
  check(req: IncomingMessage): { status: number; reason: string } | null {
    const host = req.headers.host;
    if (host === undefined || !this.#hosts.has(normaliseHost(host)))
      return { status: 421, reason: "unknown Host" };
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#origins.has(origin.trim().toLowerCase()))
      return { status: 403, reason: "Origin not allowed" };
    return null;
  }
}
