// How the relay tells a room about its state: members' bulky capability parts (adapter limits, cached model
// lists) stay out of it, the state is serialised once per broadcast, sent only when it differs from the last
// one the room was sent, and changes within one tick are coalesced into one broadcast.

import type { PeerCapabilities, RoomState } from "../protocol/messages.ts";
import type { Clock } from "../transport/clock.ts";

/** The capabilities as other members see them: no adapter limits, no model lists. */
export function publicCaps(caps: PeerCapabilities): PeerCapabilities {
  return {
    platform: caps.platform,
    adapter: { description: caps.adapter.description, limits: {} },
    memoryBudgetBytes: caps.memoryBudgetBytes,
    matmulGflops: caps.matmulGflops,
    models: [],
    ...(caps.name === undefined ? {} : { name: caps.name }),
  };
}

export function publicState(state: RoomState): RoomState {
  return { ...state, members: state.members.map((m) => ({ ...m, caps: publicCaps(m.caps) })) };
}

interface Pending {
  lastText: string | null;
  cancel: (() => void) | null;
}

export interface StateBroadcastOptions {
  clock: Clock;
  /** Changes within this many ms become one broadcast; 0 broadcasts at once (still only on change). */
  tickMs: number;
  /** The room's current state, or null when the room is gone. */
  state(roomId: string): RoomState | null;
  /** Sends one serialised `state` message to every member of the room. */
  send(roomId: string, text: string): void;
  /** Serialises a state message (adds the protocol version). */
  serialise(state: RoomState): string;
}

export class StateBroadcast {
  readonly #o: StateBroadcastOptions;
  readonly #rooms = new Map<string, Pending>();

  constructor(options: StateBroadcastOptions) {
    this.#o = options;
  }

  /** The room may have changed: schedule a broadcast (or send now with tickMs 0). */
  changed(roomId: string): void {
    let p = this.#rooms.get(roomId);
    if (p === undefined) {
      p = { lastText: null, cancel: null };
      this.#rooms.set(roomId, p);
    }
    if (this.#o.tickMs <= 0) {
      this.#flush(roomId, p);
      return;
    }
    if (p.cancel !== null) return;
    const pending = p;
    p.cancel = this.#o.clock.after(this.#o.tickMs, () => {
      pending.cancel = null;
      this.#flush(roomId, pending);
    });
  }

  /** What a joining member gets in `joined`; also becomes the room's last sent state if none was sent. */
  snapshot(roomId: string): RoomState | null {
    const s = this.#o.state(roomId);
    return s === null ? null : publicState(s);
  }

  forget(roomId: string): void {
    this.#rooms.get(roomId)?.cancel?.();
    this.#rooms.delete(roomId);
  }

  destroy(): void {
    for (const p of this.#rooms.values()) p.cancel?.();
    this.#rooms.clear();
  }

  #flush(roomId: string, p: Pending): void {
    const state = this.#o.state(roomId);
    if (state === null) {
      this.#rooms.delete(roomId);
      return;
    }
    const text = this.#o.serialise(publicState(state));
    if (text === p.lastText) return;
    p.lastText = text;
    this.#o.send(roomId, text);
  }
}
