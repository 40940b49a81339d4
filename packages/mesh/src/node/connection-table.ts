// Caps on open TCP connections for the HTTP server pipemesh owns, in total and per client address. A full
// table makes room by closing the oldest connection that has not yet sent a complete request (slow or idle
// openers); if every connection has, the newcomer is closed instead.

import type { Server } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

interface Entry {
  address: string;
  /** It has sent at least one complete request (or upgraded). */
  served: boolean;
}

export class ConnectionTable {
  readonly #limits: ConnectionLimits;
  /** In opening order (Map keeps insertion order). */
  readonly #open = new Map<Socket, Entry>();
  readonly #perAddress = new Map<string, number>();

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Tracks `server`'s connections. */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.#admit(socket));
    server.on("request", (req: { socket: Socket }) => this.#served(req.socket));
    server.on("upgrade", (req: { socket: Socket }) => this.#served(req.socket));
  }

  #served(socket: Socket): void {
    const e = this.#open.get(socket);
    if (e !== undefined) e.served = true;
  }

  #admit(socket: Socket): void {
    const address = socket.remoteAddress ?? "unknown";
    if ((this.#perAddress.get(address) ?? 0) >= this.#limits.maxConnectionsPerAddress) {
      if (!this.#evict(address)) {
        socket.destroy();
        return;
      }
    }
    if (this.#open.size >= this.#limits.maxConnections && !this.#evict(null)) {
      socket.destroy();
      return;
    }
    this.#open.set(socket, { address, served: false });
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    socket.once("close", () => this.#forget(socket));
  }

  /** Closes the oldest connection (of `address`, or any) without a complete request. */
  #evict(address: string | null): boolean {
    for (const [socket, e] of this.#open) {
      if (e.served || (address !== null && e.address !== address)) continue;
      this.#forget(socket);
      socket.destroy();
      return true;
    }
    return false;
  }

  #forget(socket: Socket): void {
    const e = this.#open.get(socket);
    if (e === undefined) return;
    this.#open.delete(socket);
    const n = (this.#perAddress.get(e.address) ?? 1) - 1;
    if (n <= 0) this.#perAddress.delete(e.address);
    else this.#perAddress.set(e.address, n);
  }
}
