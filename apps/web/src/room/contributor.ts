// Contributor: this tab's stage membership ("contribute GPU"): a PeerNode that announces the tab's
// capabilities, loads the layers the plan assigns it into an engine shard worker (WebGPU or CPU backend)
// and serves runs. Reports one status (waiting, idle, loading x %, ready, serving, stopped, error) derived
// from the room's events by contributorStatus(), which is pure and unit-tested. Leaves the room when the
// page is hidden for good and when the shard can no longer compute (contributor-lifecycle.ts). No DOM here.

import type { ShardBackend } from "@pipemesh/engine";
import {
  PeerNode,
  stageSpecFor,
  type MeshError,
  type PeerCapabilities,
  type RoomEvent,
  type RoomState,
  type StageLoadSpec,
} from "@pipemesh/mesh";
import { stageLoader } from "../wiring.ts";
import { leaveOnPageHide, watchShard } from "./contributor-lifecycle.ts";
import { rtcOptions, type RoomClient } from "./room-client.ts";

export interface LayerSpan {
  layerStart: number;
  layerEnd: number;
  /** This stage also holds the final norm and LM head. */
  head: boolean;
}

export type ContributorStatus =
  | { phase: "joining" }
  | { phase: "waiting"; reason: string }
  | { phase: "idle"; reason: string }
  | { phase: "loading"; span: LayerSpan; fraction: number; bytes?: LoadBytes | undefined }
  | { phase: "ready"; span: LayerSpan; source?: WeightSource | undefined }
  | { phase: "serving"; span: LayerSpan; source?: WeightSource | undefined }
  | { phase: "stopped" }
  | { phase: "error"; error: unknown };

/** Bytes of a load so far, with when it began (for a rate and the time left). */
export interface LoadBytes {
  doneBytes: number;
  totalBytes: number;
  startedMs: number;
  nowMs: number;
}

/** Where the loaded layers' bytes came from: this browser's weight cache, or the network. */
export interface WeightSource {
  cachedBytes: number;
  downloadedBytes: number;
}

/** What contributorStatus() reads: the room state and this peer's latest load and session events. */
export interface ContributorSnapshot {
  peerId: string;
  state: RoomState | null;
  /** specKey-like key of the spec being loaded and its fraction, or null. */
  loading: { key: string; fraction: number } | null;
  /** Key of the spec loaded last, or null. */
  loadedKey: string | null;
  /** The plan version a session serves, or null. */
  servingVersion: number | null;
  /** Where the last load's weight bytes came from, when it read through the weight cache. */
  weightSource?: WeightSource | undefined;
  /** Bytes of the load in progress. */
  loadBytes?: LoadBytes | undefined;
}

export function spanKey(s: Pick<StageLoadSpec, "layerStart" | "layerEnd" | "tail">): string {
  return `${s.layerStart}-${s.layerEnd}${s.tail ? "h" : ""}`;
}

export function contributorStatus(snap: ContributorSnapshot): ContributorStatus {
  const state = snap.state;
  if (state === null) return { phase: "joining" };
  const plan = state.plan;
  if (plan === null) {
    return {
      phase: "waiting",
      reason:
        state.planError === null
          ? "waiting for a pipeline plan"
          : `${state.planError.code}: ${state.planError.message}`,
    };
  }
  const spec = stageSpecFor(plan, snap.peerId);
  if (spec === null) {
    const standby = plan.standby?.find((st) => st.peerId === snap.peerId);
    if (standby !== undefined) {
      const layers = `${standby.layerStart}–${standby.layerEnd}`;
      const held = snap.loadedKey?.startsWith(`${standby.layerStart}-${standby.layerEnd}`) === true;
      return {
        phase: "idle",
        reason: held
          ? `standing by with layers ${layers} loaded: takes over at once if their stage leaves`
          : `standing by for layers ${layers} (loading them)`,
      };
    }
    return {
      phase: "idle",
      reason: "no layers for this tab in the current plan (the other peers hold them all)",
    };
  }
  const span: LayerSpan = { layerStart: spec.layerStart, layerEnd: spec.layerEnd, head: spec.tail };
  const key = spanKey(spec);
  const source = snap.weightSource;
  if (snap.servingVersion === plan.version && snap.loadedKey === key)
    return { phase: "serving", span, source };
  if (snap.loadedKey === key) return { phase: "ready", span, source };
  const fraction = snap.loading?.key === key ? snap.loading.fraction : 0;
  return { phase: "loading", span, fraction, bytes: snap.loadBytes };
}

export interface ContributeOptions {
  backend: ShardBackend;
  caps: PeerCapabilities;
  onStatus: (status: ContributorStatus) => void;
  /** Errors worth showing (load failures, lost neighbours); the status goes on. */
  onError: (error: unknown) => void;
}

export class Contributor {
  readonly #node: PeerNode;
  readonly #snap: ContributorSnapshot;
  readonly #onStatus: (s: ContributorStatus) => void;
  #stopped = false;
  #unlisten: () => void = () => {};

  private constructor(
    node: PeerNode,
    snap: ContributorSnapshot,
    onStatus: (s: ContributorStatus) => void,
  ) {
    this.#node = node;
    this.#snap = snap;
    this.#onStatus = onStatus;
  }

  /** Joins the room as a stage and starts following the plan. */
  static async start(room: RoomClient, o: ContributeOptions): Promise<Contributor> {
    const snap: ContributorSnapshot = {
      peerId: "",
      state: null,
      loading: null,
      loadedKey: null,
      servingVersion: null,
    };
    let self: Contributor | null = null;
    let fatal: unknown = null;
    const early: RoomEvent[] = [];
    const onEvent = (e: RoomEvent): void => {
      if (self === null) early.push(e);
      else self.#onEvent(e, o.onError);
    };
    const node = await PeerNode.join({
      url: room.app.signalingUrl,
      roomId: room.roomId,
      secret: room.secret,
      caps: o.caps,
      loadStage: watchShard(
        stageLoader({
          app: room.app,
          resolve: (id, signal) => room.model(id, signal),
          backend: () => o.backend,
          onLoaded: (shard) => {
            snap.weightSource = shard.info.weightSource;
          },
        }),
        (reason) => {
          if (self === null) fatal = reason;
          else self.leave(reason);
        },
      ),
      rtc: rtcOptions(room.app),
      link: { peerTimeoutMs: room.app.peerTimeoutMs },
      onEvent,
    });
    snap.peerId = node.peerId;
    snap.state = node.state;
    self = new Contributor(node, snap, o.onStatus);
    for (const e of early) self.#onEvent(e, o.onError);
    const started = self;
    started.#unlisten = leaveOnPageHide(() => started.stop());
    self.#report();
    if (fatal !== null) self.leave(fatal);
    return self;
  }

  get peerId(): string {
    return this.#node.peerId;
  }

  get status(): ContributorStatus {
    return this.#stopped ? { phase: "stopped" } : contributorStatus(this.#snap);
  }

  /** New capabilities (e.g. another memory budget): the room re-plans. */
  setCaps(caps: PeerCapabilities): void {
    if (!this.#stopped) this.#node.setCaps(caps);
  }

  /** Leaves the room as a stage and frees the shard. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unlisten();
    this.#node.destroy();
    this.#onStatus({ phase: "stopped" });
  }

  /**
   * Leaves the room because this tab cannot serve (its coded `reason`: ERR_GPU_LOST, ERR_GPU_OOM,
   * ERR_WORKER_DIED): the head re-plans without it at once. Status "error" with that reason. Idempotent.
   */
  leave(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unlisten();
    this.#node.destroy();
    this.#onStatus({ phase: "error", error: reason });
  }

  #onEvent(e: RoomEvent, onError: (error: unknown) => void): void {
    if (this.#stopped) return;
    const snap = this.#snap;
    switch (e.type) {
      case "state":
        snap.state = e.state;
        break;
      case "loading":
        snap.loading = { key: spanKey(e.spec), fraction: e.fraction };
        break;
      case "loaded":
        snap.loadedKey = spanKey(e.spec);
        snap.loading = null;
        break;
      case "session":
        snap.servingVersion = e.status === "serving" ? e.planVersion : null;
        if (e.error !== undefined) onError(e.error);
        break;
      case "queued":
        break;
      case "error":
        onError(causeToShow(e.error));
        // The room is gone, or it evicted this tab (its head found the shard's results wrong or saw it stall).
        if (/^ERR_(SIGNALING_CLOSED|SIGNALING_TIMEOUT|EVICTED)$/.test(e.error.code)) {
          this.#stopped = true;
          this.#onStatus({ phase: "error", error: e.error });
          return;
        }
        break;
    }
    this.#report();
  }

  #report(): void {
    if (!this.#stopped) this.#onStatus(contributorStatus(this.#snap));
  }
}

/** A stage load failure arrives wrapped as ERR_STAGE_FAILED; show the model error inside it. */
function causeToShow(e: MeshError): unknown {
  const cause: unknown = e.cause;
  return (cause as { code?: unknown } | undefined)?.code === "ERR_MODEL_LOAD" ? cause : e;
}
