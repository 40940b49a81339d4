// The API's heads, one per room: `pipemesh serve` joins its own room as the head (HeadNode, like
// `generate --room`), lazily on the first request; the room's contributors hold the layers. The head keeps
// its pipeline (the room's generation slot) while requests keep coming, gives it back after IDLE_RELEASE_MS
// without one (so other heads, a chat tab, get the room), and reopens it after a failure. Also answers what
// the room looks like now (peers, plan, readiness) from the relay, without joining.

import type { Head } from "@pipemesh/head";
import type { RoomState } from "@pipemesh/mesh";
import type { Relay } from "@pipemesh/mesh/node";
import { parseGenerateArgs } from "../args.ts";
import { openCliHead } from "../head/cli-head.ts";

export interface ApiRoom {
  /** The model id clients name (`model`), as `/v1/models` lists it. */
  modelId: string;
  roomId: string;
  url: string;
}

export interface RoomView {
  model: string;
  ready: boolean;
  peers: number;
  plan: { peerId: string; layerStart: number; layerEnd: number }[];
}

/** The slot is given back after this long without a request. */
const IDLE_RELEASE_MS = 5000;

export class RoomHead {
  readonly room: ApiRoom;
  readonly #relay: Relay;
  readonly #log: (m: string) => void;
  readonly #abort = new AbortController();
  #head: Promise<Head> | null = null;
  #active = 0;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(room: ApiRoom, relay: Relay, log: (m: string) => void) {
    this.room = room;
    this.#relay = relay;
    this.#log = log;
  }

  /** The head (opened on first use; a failed open is retried on the next call). */
  head(): Promise<Head> {
    this.#head ??= openCliHead(parseGenerateArgs(["--room", this.room.url, "--prompt", ""]), {
      signal: this.#abort.signal,
      log: this.#log,
      connect: false,
    });
    this.#head.catch(() => (this.#head = null));
    return this.#head;
  }

  /** Runs one request on the head; the slot is given back once the room has been idle for a while. */
  async use<T>(fn: (head: Head) => Promise<T>): Promise<T> {
    this.#active++;
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    try {
      return await fn(await this.head());
    } finally {
      if (--this.#active === 0) {
        this.#idleTimer = setTimeout(() => {
          this.#idleTimer = null;
          if (this.#active === 0) void this.opened().then((h) => h?.disconnect());
        }, IDLE_RELEASE_MS);
        this.#idleTimer.unref();
      }
    }
  }

  /** The opened head, if any (metrics read its queue without opening it). */
  async opened(): Promise<Head | null> {
    return this.#head === null ? null : this.#head.catch(() => null);
  }

  state(): RoomState | null {
    return this.#relay.room(this.room.roomId)?.state() ?? null;
  }

  /** Stage members (contributors) now in the room. */
  contributors(): number {
    return this.state()?.members.filter((m) => m.role === "stage").length ?? 0;
  }

  /** Ready once every layer of the model is on a stage that reports it loaded. */
  view(): RoomView {
    const state = this.state();
    if (state === null) return { model: this.room.modelId, ready: false, peers: 0, plan: [] };
    const stages = state.members.filter((m) => m.role === "stage");
    const covered = new Array<boolean>(state.model.layerCount).fill(false);
    for (const m of stages) {
      if (m.loaded === null) continue;
      for (let l = m.loaded.layerStart; l < m.loaded.layerEnd; l++) covered[l] = true;
    }
    const plan = (state.plan?.stages ?? [])
      .filter((s) => s.layerEnd > s.layerStart)
      .map((s) => ({ peerId: s.peerId, layerStart: s.layerStart, layerEnd: s.layerEnd }));
    return {
      model: this.room.modelId,
      ready: covered.length > 0 && covered.every(Boolean),
      peers: stages.length,
      plan,
    };
  }

  async destroy(): Promise<void> {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#abort.abort();
    const head = await this.opened();
    await head?.destroy();
  }
}
