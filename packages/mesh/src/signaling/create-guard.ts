// Who may create a room, and for which model: an optional create token, a quota of rooms per connection, a
// rate of rooms per client address (token bucket; only rooms actually created spend it), and the model
// check (a server that lists its models accepts only those, with its own byte sizes). Pure bookkeeping
// with an injected time; the relay asks it before every create.

import type { MeshErrorCode } from "../errors.ts";
import type { ModelInfo } from "../protocol/messages.ts";

export interface CreateLimits {
  /** Rooms one connection may create in its lifetime. */
  maxRoomsPerConnection: number;
  /** Rooms one client address may create per minute (also the burst). */
  roomsPerMinutePerAddress: number;
}

export const DEFAULT_CREATE_LIMITS: CreateLimits = {
  maxRoomsPerConnection: 8,
  roomsPerMinutePerAddress: 20,
};

export interface CreateGuardOptions {
  limits: CreateLimits;
  /** When set, `create` must carry this token. */
  createToken?: string | undefined;
  /** The models this server serves; when set, rooms are only created for these (matched by id). */
  models?: readonly ModelInfo[] | undefined;
  /** Checks or completes a model description; a string refuses with ERR_MODEL_UNKNOWN and that message. */
  resolveModel?: ((model: ModelInfo) => ModelInfo | string) | undefined;
}

export type CreateVerdict =
  { ok: true; model: ModelInfo } | { ok: false; code: MeshErrorCode; message: string };

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Constant-time comparison of two secrets (length differences still take the long path). */
export function sameSecret(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const MAX_TRACKED_ADDRESSES = 10_000;

export class CreateGuard {
  readonly #o: CreateGuardOptions;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: CreateGuardOptions) {
    this.#o = options;
  }

  /**
   * May a connection that has created `createdSoFar` rooms, from `address`, create one for `model` now?
   * Spends nothing: call `spend` once the room exists.
   */
  check(
    nowMs: number,
    address: string,
    createdSoFar: number,
    model: ModelInfo,
    token: string | undefined,
  ): CreateVerdict {
    const want = this.#o.createToken;
    if (want !== undefined && (token === undefined || !sameSecret(want, token)))
      return {
        ok: false,
        code: "ERR_UNAUTHORIZED",
        message: "creating rooms needs the create token",
      };
    if (createdSoFar >= this.#o.limits.maxRoomsPerConnection) {
      return {
        ok: false,
        code: "ERR_RATE_LIMITED",
        message: `a connection may create at most ${this.#o.limits.maxRoomsPerConnection} rooms`,
      };
    }
    if (this.#bucket(nowMs, address).tokens < 1) {
      return {
        ok: false,
        code: "ERR_RATE_LIMITED",
        message: `at most ${this.#o.limits.roomsPerMinutePerAddress} rooms per minute from one address`,
      };
    }
    return this.#model(model);
  }

  /** A room was created from `address`. */
  spend(nowMs: number, address: string): void {
    this.#bucket(nowMs, address).tokens -= 1;
  }

  /** Forgets addresses whose bucket is full again (the relay's sweep calls it). */
  sweep(nowMs: number): void {
    for (const [address, b] of this.#buckets) {
      if (this.#refill(nowMs, b) >= this.#o.limits.roomsPerMinutePerAddress)
        this.#buckets.delete(address);
    }
  }

  #model(model: ModelInfo): CreateVerdict {
    const models = this.#o.models;
    if (models !== undefined) {
      const known = models.find((m) => m.id === model.id);
      if (known === undefined) {
        return {
          ok: false,
          code: "ERR_MODEL_UNKNOWN",
          message: `this server serves no model "${model.id}"`,
        };
      }
      model = known;
    }
    const resolved = this.#o.resolveModel?.(model) ?? model;
    if (typeof resolved === "string")
      return { ok: false, code: "ERR_MODEL_UNKNOWN", message: resolved };
    return { ok: true, model: resolved };
  }

  #refill(nowMs: number, b: Bucket): number {
    const rate = this.#o.limits.roomsPerMinutePerAddress;
    b.tokens = Math.min(rate, b.tokens + ((nowMs - b.atMs) * rate) / 60_000);
    b.atMs = nowMs;
    return b.tokens;
  }

  #bucket(nowMs: number, address: string): Bucket {
    let b = this.#buckets.get(address);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) this.sweep(nowMs);
      if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done !== true) this.#buckets.delete(oldest.value);
      }
      b = { tokens: this.#o.limits.roomsPerMinutePerAddress, atMs: nowMs };
      this.#buckets.set(address, b);
    } else {
      this.#refill(nowMs, b);
    }
    return b;
  }
}
