// RoomClient: this tab's membership of one room. It joins as a head (the mesh's chat role, idle until it
// asks for the generation slot), so every tab sees the room's state, and it resolves the room's model files.
// A tab that contributes adds a stage membership (room/contributor.ts). Listeners get the room's events;
// leave() ends both memberships. No DOM here.

import type { MeshError } from "@pipemesh/mesh";
import { HeadNode, roomUrl, type RoomEvent, type RoomState, type RtcOptions } from "@pipemesh/mesh";
import type { AppConfig } from "../config.ts";
import { resolveModelSource, roomModelSource, type ModelSource } from "../model/model-source.ts";
import { stageLoader } from "../wiring.ts";
import { headCaps } from "./caps.ts";

export type RoomClientEvent = RoomEvent | { type: "left"; error: MeshError | null };

export interface RoomJoinOptions {
  app: AppConfig;
  roomId: string;
  secret: string;
  /** This tab's display name. */
  name: string;
  /** The page origin the shareable URL uses. */
  origin: string;
  signal?: AbortSignal;
}

/** RTC options from the app's configuration (ICE servers default to the signaling server's). */
export function rtcOptions(app: AppConfig): RtcOptions {
  return {
    ...(app.iceServers === undefined ? {} : { iceServers: app.iceServers }),
    loopbackOnly: app.loopbackOnly,
  };
}

export class RoomClient {
  readonly app: AppConfig;
  readonly roomId: string;
  readonly secret: string;
  readonly name: string;
  /** The shareable URL (http(s)://host/room/<id>#<secret>). */
  readonly url: string;
  readonly head: HeadNode;
  readonly #listeners = new Set<(e: RoomClientEvent) => void>();
  readonly #models = new Map<string, Promise<ModelSource>>();
  #state: RoomState;
  #left = false;
  #queuePosition: number | null = null;

  private constructor(o: RoomJoinOptions, head: HeadNode) {
    this.app = o.app;
    this.roomId = o.roomId;
    this.secret = o.secret;
    this.name = o.name;
    this.url = roomUrl(o.origin, o.roomId, o.secret);
    this.head = head;
    this.#state = head.state;
  }

  /** Joins the room (errors: ERR_ROOM_NOT_FOUND, ERR_ROOM_SECRET, ERR_ROOM_FULL, ERR_SIGNALING_*). */
  static async join(o: RoomJoinOptions): Promise<RoomClient> {
    let client: RoomClient | null = null;
    const early: RoomEvent[] = [];
    const forward = (e: RoomEvent): void => {
      if (client === null) early.push(e);
      else client.#onEvent(e);
    };
    const resolve = (id: string, signal: AbortSignal): Promise<ModelSource> =>
      client === null
        ? resolveModelSource(id, o.app.modelsBaseUrl, signal)
        : client.model(id, signal);
    const head = await HeadNode.join({
      url: o.app.signalingUrl,
      roomId: o.roomId,
      secret: o.secret,
      caps: headCaps(o.name),
      // The chat head holds the embeddings (a CPU shard suffices); layers only if the plan ever gives it some.
      loadStage: stageLoader({
        app: o.app,
        resolve,
        backend: (spec) => (spec.layerEnd > spec.layerStart ? "webgpu" : "cpu"),
      }),
      rtc: rtcOptions(o.app),
      link: { peerTimeoutMs: o.app.peerTimeoutMs },
      onEvent: forward,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    client = new RoomClient(o, head);
    for (const e of early) client.#onEvent(e);
    return client;
  }

  get state(): RoomState {
    return this.#state;
  }

  get peerId(): string {
    return this.head.peerId;
  }

  get left(): boolean {
    return this.#left;
  }

  /** The 1-based queue position while this tab waits for the generation slot, else null. */
  get queuePosition(): number | null {
    return this.#queuePosition;
  }

  /** Subscribes to room events; returns the unsubscribe function. */
  on(listener: (e: RoomClientEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The files of model `id` (the room's model unless given), resolved once. */
  model(id: string = this.#state.model.id, signal?: AbortSignal): Promise<ModelSource> {
    let p = this.#models.get(id);
    if (p === undefined) {
      // A room whose model lives elsewhere (a URL, a Hub file) names where in its descriptor.
      p = roomModelSource(
        this.#state.model,
        id,
        this.app.modelsBaseUrl,
        globalThis.location.href,
        signal,
      );
      this.#models.set(id, p);
      p.catch(() => this.#models.delete(id));
    }
    return p;
  }

  /** Leaves the room. Idempotent. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.head.destroy();
    this.#emit({ type: "left", error: null });
    this.#listeners.clear();
  }

  #onEvent(e: RoomEvent): void {
    if (e.type === "state") {
      this.#state = e.state;
      if (!e.state.queue.includes(this.peerId)) this.#queuePosition = null;
    }
    if (e.type === "queued") this.#queuePosition = e.position;
    this.#emit(e);
    const closed =
      e.type === "error" && /^ERR_(SIGNALING_CLOSED|SIGNALING_TIMEOUT|EVICTED)$/.test(e.error.code);
    if (closed && e.type === "error" && !this.#left) {
      this.#left = true;
      this.#emit({ type: "left", error: e.error });
    }
  }

  #emit(e: RoomClientEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch (err) {
        console.error(err);
      }
    }
  }
}
