// PeerNode: an edge peer or a contributing tab. Joins a room as a stage, announces its capabilities, loads
// the layer range the plan assigns it (through the app's loadStage), reports ready, and when the pipeline is
// ready connects to its upstream, downstream and the head and serves runs with a StageServer. An idle peer
// the plan names as a standby preloads the range it stands by for the same way and reports it ready, so it
// can take that stage over without loading when the stage is lost. Generic over the StageRunner port;
// decides nothing about runs.

import { MeshError } from "../errors.ts";
import { StageServer } from "../pipeline/stage-server.ts";
import type { StageRunner } from "../ports.ts";
import type {
  ModelInfo,
  PeerCapabilities,
  PipelinePlan,
  RoomState,
  WireDtype,
} from "../protocol/messages.ts";
import { SignalingClient, type WebSocketFactory } from "../signaling/client.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import type { Link, LinkOptions } from "../transport/link.ts";
import type { RtcOptions } from "../transport/peer-channel.ts";
import type { ShapeOptions } from "../transport/shaped-link.ts";
import { connectionId, memberConnector, planLinkOptions, type Connector } from "./connector.ts";
import { ShardSlot, specKey, type LoadStage, type StageLoadSpec } from "./shard-slot.ts";

export type RoomEvent =
  | { type: "state"; state: RoomState }
  | { type: "loading"; spec: StageLoadSpec; fraction: number }
  | { type: "loaded"; spec: StageLoadSpec }
  | {
      type: "session";
      planVersion: number;
      status: "connecting" | "serving" | "ended";
      error?: MeshError;
    }
  | { type: "queued"; position: number }
  | { type: "error"; error: MeshError };

export interface RoomPeerOptions {
  /** ws(s)://host:port/signal */
  url: string;
  roomId: string;
  secret: string;
  caps: PeerCapabilities;
  loadStage: LoadStage;
  /** ICE servers default to what the server hands out on join (configuration, never a library default). */
  rtc?: RtcOptions;
  webSocket?: WebSocketFactory;
  clock?: Clock;
  link?: Omit<LinkOptions, "localId" | "remoteId" | "clock">;
  activationDtype?: WireDtype;
  logitsDtype?: WireDtype;
  connectTimeoutMs?: number;
  /** Emulated one-way latency / bandwidth on this peer's outgoing links (benchmarks; off by default). */
  shape?: ShapeOptions;
  onEvent?: (event: RoomEvent) => void;
  signal?: AbortSignal;
  /**
   * How long an assignment must stand before its layers start loading (default 250 ms): when several
   * peers join at once the plan changes a few times in quick succession, and a peer should not download
   * layers that the next plan takes away.
   */
  settleMs?: number;
}

const DEFAULT_SETTLE_MS = 250;

/** What a stage-role peer loads for its place in `plan` (null: idle). */
export function stageSpecFor(
  plan: PipelinePlan,
  peerId: string,
  model?: ModelInfo,
): StageLoadSpec | null {
  const i = plan.stages.findIndex((s) => s.peerId === peerId);
  const s = plan.stages[i];
  if (s === undefined) return null;
  return loadSpec(plan, s, plan.headId === peerId, i === plan.stages.length - 1, model);
}

/** The load spec of `range` in `plan`: the model, the plan's context and where the weights come from. */
function loadSpec(
  plan: PipelinePlan,
  range: { layerStart: number; layerEnd: number },
  embeds: boolean,
  tail: boolean,
  model: ModelInfo | undefined,
): StageLoadSpec {
  const spec: StageLoadSpec = {
    modelId: plan.modelId,
    layerCount: plan.layerCount,
    layerStart: range.layerStart,
    layerEnd: range.layerEnd,
    embeds,
    tail,
  };
  if (plan.contextLength !== undefined) spec.contextLength = plan.contextLength;
  if (plan.modelUrl !== undefined) spec.modelUrl = plan.modelUrl;
  if (model?.source !== undefined && model.id === plan.modelId) spec.source = model.source;
  return spec;
}

/**
 * What an idle peer preloads when `plan` names it as a standby: the range it stands by for, loaded exactly
 * as that stage would be (so taking the stage over finds it loaded). Null when it stands by for nothing.
 */
export function standbySpecFor(
  plan: PipelinePlan,
  peerId: string,
  model?: ModelInfo,
): StageLoadSpec | null {
  if (plan.stages.some((s) => s.peerId === peerId)) return null;
  const s = plan.standby?.find((x) => x.peerId === peerId);
  if (s === undefined) return null;
  // Stages cover [0, layerCount) in order, so the tail's range is the one ending at layerCount.
  return loadSpec(plan, s, false, s.layerEnd === plan.layerCount, model);
}

/** What this peer should have loaded for `state`: its stage, else the range it stands by for, else null. */
function assignedSpec(state: RoomState, peerId: string): StageLoadSpec | null {
  const plan = state.plan;
  if (plan === null) return null;
  return stageSpecFor(plan, peerId, state.model) ?? standbySpecFor(plan, peerId, state.model);
}

interface Session {
  version: number;
  abort: AbortController;
  server: StageServer | null;
  links: Link[];
}

export class PeerNode {
  readonly peerId: string;
  readonly #o: RoomPeerOptions;
  readonly #client: SignalingClient;
  readonly #connector: Connector;
  readonly #slot: ShardSlot;
  #state: RoomState;
  #session: Session | null = null;
  /** Plan versions are served at most once: a failed session waits for the next plan. */
  #lastSessionVersion = -1;
  #destroyed = false;
  /** An assignment waiting out the settle time before it loads, and the one loading now. */
  #settling: { key: string; cancel: () => void } | null = null;
  #loadingKey: string | null = null;

  private constructor(
    o: RoomPeerOptions,
    client: SignalingClient,
    peerId: string,
    state: RoomState,
    connector: Connector,
  ) {
    this.#o = o;
    this.#client = client;
    this.peerId = peerId;
    this.#state = state;
    this.#connector = connector;
    this.#slot = new ShardSlot(o.loadStage, (spec, fraction) =>
      this.#emit({ type: "loading", spec, fraction }),
    );
  }

  /** Connects, joins the room as a stage, and starts following the plan. */
  static async join(o: RoomPeerOptions): Promise<PeerNode> {
    const client = await SignalingClient.connect(o.url, {
      ...(o.webSocket === undefined ? {} : { webSocket: o.webSocket }),
      ...(o.clock === undefined ? {} : { clock: o.clock }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    let node: PeerNode | null = null;
    const early: RoomState[] = [];
    let connector: Connector | null = null;
    client.on({
      state: (s) => (node === null ? early.push(s) : node.#onState(s)),
      signal: (from, connId, data) => connector?.onSignal(from, connId, data),
      error: (e) => {
        if (node !== null) node.#emit({ type: "error", error: e });
      },
      close: (e) => {
        if (node !== null) node.#onClosed(e);
      },
    });
    try {
      const joined = await client.join({
        roomId: o.roomId,
        secret: o.secret,
        role: "stage",
        caps: o.caps,
      });
      connector = memberConnector(client, joined, o);
      node = new PeerNode(o, client, joined.peerId, joined.state, connector);
      node.#onState(early.at(-1) ?? joined.state);
      return node;
    } catch (e) {
      client.destroy();
      throw e;
    }
  }

  get state(): RoomState {
    return this.#state;
  }

  /** Updates the capabilities the planner sees (e.g. a new memory budget). */
  setCaps(caps: PeerCapabilities): void {
    this.#client.setCaps(caps);
  }

  /** Leaves the room, ends any session and frees the shard. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#settling?.cancel();
    this.#settling = null;
    this.#endSession(null);
    this.#connector.destroy();
    this.#slot.destroy();
    this.#client.destroy();
  }

  #emit(e: RoomEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch {
      // a UI callback must not break the peer
    }
  }

  #onClosed(error: MeshError): void {
    if (this.#destroyed) return;
    this.#emit({ type: "error", error });
    this.destroy();
  }

  #onState(state: RoomState): void {
    if (this.#destroyed) return;
    this.#state = state;
    this.#emit({ type: "state", state });
    const plan = state.plan;
    const spec = assignedSpec(state, this.peerId);
    if (plan === null || spec === null) {
      this.#settling?.cancel();
      this.#settling = null;
      this.#endSession(null);
      this.#slot.release();
      return;
    }
    this.#connector.forgetBefore(plan.version);
    if (this.#session !== null && this.#session.version !== plan.version) this.#endSession(null);
    // A standby holds its range without serving any pipeline.
    const standby = !plan.stages.some((s) => s.peerId === this.peerId);
    const runner = this.#slot.loaded(spec);
    if (runner === null) {
      const key = specKey(spec);
      // Already waiting to load, or loading, this assignment.
      if (this.#settling?.key === key || this.#loadingKey === key) return;
      this.#settling?.cancel();
      const cancel = (this.#o.clock ?? systemClock).after(
        this.#o.settleMs ?? DEFAULT_SETTLE_MS,
        () => {
          this.#settling = null;
          if (!this.#destroyed) this.#load(spec);
        },
      );
      this.#settling = { key, cancel };
      return;
    }
    this.#settling?.cancel();
    this.#settling = null;
    const loadedHere = state.members.find((m) => m.peerId === this.peerId)?.loaded;
    if (loadedHere?.layerStart !== spec.layerStart || loadedHere.layerEnd !== spec.layerEnd) {
      this.#client.ready(spec.layerStart, spec.layerEnd, runner); // loaded earlier, for an older plan
    }
    if (
      !standby &&
      plan.headId !== null &&
      state.ready &&
      this.#session === null &&
      this.#lastSessionVersion !== plan.version
    ) {
      this.#startSession(plan, runner);
    }
  }

  /**
   * Loads an assignment (a stage, or a standby range) that has stood for the settle time, and reports it
   * ready if it still holds.
   */
  #load(spec: StageLoadSpec): void {
    const current = assignedSpec(this.#state, this.peerId);
    const key = specKey(spec);
    if (current === null || specKey(current) !== key) return;
    this.#loadingKey = key;
    const done = (): void => {
      if (this.#loadingKey === key) this.#loadingKey = null;
    };
    this.#slot.ensure(spec).then(
      () => {
        done();
        if (this.#destroyed) return;
        this.#emit({ type: "loaded", spec });
        const now = assignedSpec(this.#state, this.peerId);
        const loaded = this.#slot.loaded(spec);
        if (now !== null && specKey(now) === specKey(spec) && loaded !== null)
          this.#client.ready(spec.layerStart, spec.layerEnd, loaded);
      },
      (e: unknown) => {
        done();
        if (e instanceof MeshError && e.code === "ERR_ABORTED") return;
        this.#emit({
          type: "error",
          error:
            e instanceof MeshError
              ? e
              : new MeshError(
                  "ERR_STAGE_FAILED",
                  `loading layers ${spec.layerStart}-${spec.layerEnd} failed: ${String(e)}`,
                  { cause: e },
                ),
        });
      },
    );
  }

  #startSession(plan: PipelinePlan, runner: StageRunner): void {
    const headId = plan.headId;
    const i = plan.stages.findIndex((s) => s.peerId === this.peerId);
    if (headId === null || i < 1) return;
    const upstreamId = plan.stages[i - 1]?.peerId ?? headId;
    const downstreamId = plan.stages[i + 1]?.peerId ?? null;
    const session: Session = {
      version: plan.version,
      abort: new AbortController(),
      server: null,
      links: [],
    };
    this.#session = session;
    this.#lastSessionVersion = plan.version;
    this.#emit({ type: "session", planVersion: plan.version, status: "connecting" });
    const linkOptions = planLinkOptions(this.#state, plan, this.#o.link);
    const connect = (remote: string): Promise<Link> =>
      this.#connector
        .link(
          remote,
          connectionId(plan.version, this.peerId, remote),
          session.abort.signal,
          linkOptions,
        )
        .then((l) => {
          session.links.push(l);
          if (session.abort.signal.aborted) l.destroy("session ended");
          return l;
        });
    const head = connect(headId);
    const upstream = upstreamId === headId ? head : connect(upstreamId);
    const downstream = downstreamId === null ? Promise.resolve(null) : connect(downstreamId);
    Promise.all([head, upstream, downstream]).then(
      ([h, up, down]) => {
        if (this.#session !== session) return;
        session.server = new StageServer({
          runner,
          upstream: up,
          downstream: down,
          head: h,
          ...(this.#o.activationDtype === undefined
            ? {}
            : { activationDtype: this.#o.activationDtype }),
          ...(this.#o.logitsDtype === undefined ? {} : { logitsDtype: this.#o.logitsDtype }),
          ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
          onClose: (error) => {
            if (this.#session === session) this.#endSession(error);
          },
        });
        this.#emit({ type: "session", planVersion: plan.version, status: "serving" });
      },
      (e: unknown) => {
        if (this.#session !== session) return;
        this.#endSession(
          e instanceof MeshError ? e : new MeshError("ERR_PEER_CONNECT", String(e), { cause: e }),
        );
      },
    );
  }

  #endSession(error: MeshError | null): void {
    const s = this.#session;
    if (s === null) return;
    this.#session = null;
    s.abort.abort();
    s.server?.destroy();
    for (const l of s.links) l.destroy("session ended");
    this.#emit({
      type: "session",
      planVersion: s.version,
      status: "ended",
      ...(error === null ? {} : { error }),
    });
  }
}
