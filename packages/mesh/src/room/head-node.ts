// HeadNode: the peer that generates (a chat tab or the CLI). Joins a room as a head, asks for the generation
// slot (waiting in the queue, told its position), loads its own shard (embeddings, maybe the first layers),
// waits until every stage of the plan is ready, connects to each stage and returns a PipelinePort. While a
// session runs, a plan change or a stage leaving the room fails the pipeline with ERR_PEER_LOST at once;
// recover() then reports the failed stage, waits for the room's repaired plan and hands over a new session
// without giving up the generation slot.

import { isMeshError, MeshError } from "../errors.ts";
import { HeadPipeline } from "../pipeline/head-pipeline.ts";
import { LocalPipeline } from "../pipeline/local-pipeline.ts";
import type { PipelinePort } from "../ports.ts";
import type { PipelinePlan, RoomState } from "../protocol/messages.ts";
import { SignalingClient } from "../signaling/client.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import type { Link } from "../transport/link.ts";
import { connectionId, memberConnector, planLinkOptions, type Connector } from "./connector.ts";
import { stageSpecFor, type RoomEvent, type RoomPeerOptions } from "./peer-node.ts";
import { ShardSlot, type LoadedStage, type StageLoadSpec } from "./shard-slot.ts";

export type HeadNodeOptions = RoomPeerOptions & {
  /** The model's vocabulary size: result ids are checked against it (else only against logits' length). */
  vocabSize?: number | undefined;
};

export interface AcquireOptions {
  signal?: AbortSignal;
  /** Give up waiting for the slot, the stages and the links after this long (ERR_TIMEOUT). */
  timeoutMs?: number;
  /** When the plan is impossible (too few peers), wait for peers to join instead of failing. Default true. */
  waitForPeers?: boolean;
}

export interface HeadSession {
  readonly pipeline: PipelinePort;
  readonly plan: PipelinePlan;
  /** The head holds every layer: the pipeline runs in this process. */
  readonly local: boolean;
  /** Transport numbers per remote stage (empty when local). */
  linkStats(): { peerId: string; rttMs: number | null; bytesSent: number; bytesReceived: number }[];
  /** Ends the session and frees the room's generation slot. Idempotent. */
  release(): void;
}

interface Watcher {
  check: () => boolean;
  fail: (e: MeshError) => void;
}

export class HeadNode {
  readonly peerId: string;
  readonly #o: HeadNodeOptions;
  readonly #client: SignalingClient;
  readonly #connector: Connector;
  readonly #slot: ShardSlot;
  readonly #clock: Clock;
  #state: RoomState;
  #watchers = new Set<Watcher>();
  #session: { plan: PipelinePlan; abort: (e: MeshError) => void } | null = null;
  #busy = false;
  #closed: MeshError | null = null;
  /** How each live session ends: its pipeline destroyed, the slot released unless `keepSlot`. */
  readonly #endings = new WeakMap<HeadSession, (keepSlot: boolean) => void>();

  private constructor(
    o: HeadNodeOptions,
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
    this.#clock = o.clock ?? systemClock;
    this.#slot = new ShardSlot(o.loadStage, (spec, fraction) =>
      this.#emit({ type: "loading", spec, fraction }),
    );
  }

  static async join(o: HeadNodeOptions): Promise<HeadNode> {
    const client = await SignalingClient.connect(o.url, {
      ...(o.webSocket === undefined ? {} : { webSocket: o.webSocket }),
      ...(o.clock === undefined ? {} : { clock: o.clock }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    let node: HeadNode | null = null;
    let connector: Connector | null = null;
    const early: RoomState[] = [];
    client.on({
      state: (s) => {
        if (node === null) early.push(s);
        else node.#onState(s);
      },
      signal: (from, connId, data) => connector?.onSignal(from, connId, data),
      queued: (position) => {
        if (node !== null) node.#emit({ type: "queued", position });
      },
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
        role: "head",
        caps: o.caps,
      });
      connector = memberConnector(client, joined, o);
      node = new HeadNode(o, client, joined.peerId, early.at(-1) ?? joined.state, connector);
      return node;
    } catch (e) {
      client.destroy();
      throw e;
    }
  }

  get state(): RoomState {
    return this.#state;
  }

  /** Waits for the generation slot and a ready pipeline; resolves with a session holding a PipelinePort. */
  async acquire(options: AcquireOptions = {}): Promise<HeadSession> {
    if (this.#closed !== null) throw this.#closed;
    if (this.#busy)
      throw new MeshError("ERR_INTERNAL", "acquire() while a session is held or being acquired");
    this.#busy = true;
    const deadlineMs = this.#clock.now() + (options.timeoutMs ?? 10 * 60_000);
    try {
      this.#client.request();
      return await this.#serve(options, deadlineMs, new Set());
    } catch (e) {
      this.#busy = false;
      this.#releaseSlot();
      throw e;
    }
  }

  /**
   * Replaces `session`, whose pipeline failed, keeping the generation slot: reports the stage the failure
   * names (when it is still a member, the room evicts it), waits for the room's plan without it (survivors
   * keep their ranges; see the room's repair), and connects the new pipeline. Resolves null when the room
   * cannot plan without that peer, does not re-plan within `planTimeoutMs`, or the new pipeline cannot be
   * made before `timeoutMs` (the slot is then released); the caller fails the generation as before.
   */
  async recover(
    session: HeadSession,
    error: MeshError,
    options: AcquireOptions & { planTimeoutMs?: number } = {},
  ): Promise<HeadSession | null> {
    const end = this.#endings.get(session);
    if (end === undefined)
      throw new MeshError("ERR_INTERNAL", "recover() with a session this head does not hold");
    end(true);
    if (this.#closed !== null || error.code === "ERR_SIGNALING_CLOSED") {
      this.#gaveUp();
      return null;
    }
    const suspect = suspectOf(error, session.plan, this.peerId);
    if (suspect === "head") {
      this.#gaveUp();
      return null;
    }
    const exclude = new Set(suspect === null ? [] : [suspect]);
    if (suspect !== null && this.#state.members.some((m) => m.peerId === suspect)) {
      try {
        this.#client.report(suspect, error.code, error.message.slice(0, 300));
      } catch {
        // signaling gone: the wait below fails
      }
    }
    const now = this.#clock.now();
    const deadlineMs = now + (options.timeoutMs ?? 10 * 60_000);
    const planDeadlineMs = Math.min(deadlineMs, now + (options.planTimeoutMs ?? 5000));
    const members = (s: RoomState): Set<string> => new Set(s.members.map((m) => m.peerId));
    try {
      const planned = await this.#until(
        (s) =>
          s.planError !== null ||
          (s.plan !== null &&
            s.plan.version !== session.plan.version &&
            s.plan.stages.every((st) => !exclude.has(st.peerId) && members(s).has(st.peerId))),
        options,
        planDeadlineMs,
      );
      if (planned.plan === null || planned.active !== this.peerId) {
        this.#gaveUp();
        return null;
      }
      return await this.#serve({ ...options, waitForPeers: false }, deadlineMs, exclude);
    } catch (e) {
      this.#gaveUp();
      if (
        isMeshError(e, "ERR_PLAN_IMPOSSIBLE") ||
        isMeshError(e, "ERR_TIMEOUT") ||
        isMeshError(e, "ERR_PEER_CONNECT")
      )
        return null;
      throw e;
    }
  }

  #gaveUp(): void {
    this.#busy = false;
    this.#releaseSlot();
  }

  /**
   * Holding the slot: waits for a plan of this head (with none of `exclude` in it), loads the head's own
   * shard, waits for every stage to be ready and connects; starts over when the plan changes meanwhile.
   */
  async #serve(
    options: AcquireOptions,
    deadlineMs: number,
    exclude: ReadonlySet<string>,
  ): Promise<HeadSession> {
    const usable = (p: PipelinePlan | null): boolean =>
      p !== null && p.headId === this.peerId && p.stages.every((st) => !exclude.has(st.peerId));
    for (;;) {
      const state = await this.#until(
        (s) => s.active === this.peerId && (usable(s.plan) || s.planError !== null),
        options,
        deadlineMs,
      );
      const plan = state.plan;
      if (plan === null || !usable(plan)) {
        if (options.waitForPeers === false) {
          throw new MeshError("ERR_PLAN_IMPOSSIBLE", state.planError?.message ?? "no plan", {
            details: { planError: state.planError },
          });
        }
        await this.#until((s) => s !== state, options, deadlineMs);
        continue;
      }
      const spec = stageSpecFor(plan, this.peerId, state.model);
      if (spec === null) throw new MeshError("ERR_INTERNAL", "the plan has no stage for its head");
      const runner = await this.#load(spec);
      if (this.#state.plan?.version !== plan.version) continue;
      this.#client.ready(spec.layerStart, spec.layerEnd);
      const readyState = await this.#until(
        (s) => s.plan?.version !== plan.version || s.ready,
        options,
        deadlineMs,
      );
      if (readyState.plan?.version !== plan.version) continue;
      if (plan.stages.length === 1) return this.#localSession(plan, runner);
      const session = await this.#connect(plan, runner, options, deadlineMs);
      if (session !== null) return session;
    }
  }

  /** Leaves the room and frees the shard. Idempotent. */
  destroy(): void {
    if (this.#closed !== null) return;
    this.#closed = new MeshError("ERR_DESTROYED", "head node destroyed");
    this.#session?.abort(this.#closed);
    this.#failWatchers(this.#closed);
    this.#connector.destroy();
    this.#slot.destroy();
    this.#client.destroy();
  }

  #emit(e: RoomEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch {
      // a UI callback must not break the head
    }
  }

  async #load(spec: StageLoadSpec): Promise<LoadedStage> {
    const runner = await this.#slot.ensure(spec);
    this.#emit({ type: "loaded", spec });
    return runner;
  }

  #releaseSlot(): void {
    try {
      this.#client.release();
    } catch {
      // signaling gone: the server frees the slot when the socket closes
    }
  }

  #localSession(plan: PipelinePlan, runner: LoadedStage): HeadSession {
    const pipeline = new LocalPipeline({
      runners: [runner],
      ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
    });
    this.#emit({ type: "session", planVersion: plan.version, status: "serving" });
    let released = false;
    const end = (keepSlot: boolean): void => {
      if (released) return;
      released = true;
      pipeline.destroy();
      if (!keepSlot) this.#gaveUp();
      this.#emit({ type: "session", planVersion: plan.version, status: "ended" });
    };
    const session: HeadSession = {
      pipeline,
      plan,
      local: true,
      linkStats: () => [],
      release: () => end(false),
    };
    this.#endings.set(session, end);
    return session;
  }

  /** Connects to every remote stage; null when the plan changed meanwhile (the caller starts over). */
  async #connect(
    plan: PipelinePlan,
    runner: LoadedStage,
    options: AcquireOptions,
    deadlineMs: number,
  ): Promise<HeadSession | null> {
    const remote = plan.stages.slice(1);
    const abort = new AbortController();
    const links: Link[] = [];
    const watcher: Watcher = {
      check: () => {
        if (this.#state.plan?.version !== plan.version) abort.abort();
        return false;
      },
      fail: () => abort.abort(),
    };
    this.#watchers.add(watcher);
    const onOuterAbort = (): void => abort.abort();
    options.signal?.addEventListener("abort", onOuterAbort, { once: true });
    const cancelDeadline = this.#clock.after(Math.max(0, deadlineMs - this.#clock.now()), () =>
      abort.abort(),
    );
    this.#emit({ type: "session", planVersion: plan.version, status: "connecting" });
    try {
      // One abort listener for all links (not one per link): a big pipeline would trip Node's listener warning.
      const ids = remote.map((s) => connectionId(plan.version, this.peerId, s.peerId));
      abort.signal.addEventListener(
        "abort",
        () => ids.forEach((id) => this.#connector.cancel(id)),
        { once: true },
      );
      const linkOptions = planLinkOptions(this.#state, plan, this.#o.link);
      const made = await Promise.all(
        remote.map((s, i) =>
          this.#connector.link(s.peerId, ids[i] ?? "", undefined, linkOptions).then((l) => {
            links.push(l);
            return l;
          }),
        ),
      );
      if (abort.signal.aborted) throw new MeshError("ERR_ABORTED", "plan changed while connecting");
      return this.#networkSession(plan, runner, made);
    } catch (e) {
      for (const l of links) l.destroy("connect failed");
      if (
        this.#state.plan?.version !== plan.version &&
        this.#closed === null &&
        options.signal?.aborted !== true
      )
        return null;
      if (this.#clock.now() >= deadlineMs)
        throw new MeshError("ERR_TIMEOUT", "the pipeline did not connect in time", { cause: e });
      throw e;
    } finally {
      cancelDeadline();
      options.signal?.removeEventListener("abort", onOuterAbort);
      this.#watchers.delete(watcher);
    }
  }

  #networkSession(plan: PipelinePlan, runner: LoadedStage, links: Link[]): HeadSession {
    const pipeline = new HeadPipeline({
      runner,
      stages: links,
      ...(this.#o.activationDtype === undefined
        ? {}
        : { activationDtype: this.#o.activationDtype }),
      ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
      ...(this.#o.vocabSize === undefined ? {} : { vocabSize: this.#o.vocabSize }),
    });
    const current = { plan, abort: (e: MeshError) => pipeline.abort(e) };
    this.#session = current;
    this.#emit({ type: "session", planVersion: plan.version, status: "serving" });
    let released = false;
    const end = (keepSlot: boolean): void => {
      if (released) return;
      released = true;
      if (this.#session === current) this.#session = null;
      pipeline.destroy();
      if (!keepSlot) this.#gaveUp();
      this.#emit({ type: "session", planVersion: plan.version, status: "ended" });
    };
    const session: HeadSession = {
      pipeline,
      plan,
      local: false,
      linkStats: () => pipeline.linkStats(),
      release: () => end(false),
    };
    this.#endings.set(session, end);
    return session;
  }

  #onState(state: RoomState): void {
    this.#state = state;
    this.#emit({ type: "state", state });
    const s = this.#session;
    if (s !== null) {
      const members = new Set(state.members.map((m) => m.peerId));
      const gone = s.plan.stages.find((st) => !members.has(st.peerId));
      if (gone !== undefined) {
        s.abort(
          new MeshError("ERR_PEER_LOST", `stage peer ${gone.peerId} left the room`, {
            details: { peerId: gone.peerId },
          }),
        );
      } else if (state.plan?.version !== s.plan.version) {
        s.abort(
          new MeshError(
            "ERR_PLAN_STALE",
            `the plan changed (v${s.plan.version} -> v${state.plan?.version ?? "none"})`,
          ),
        );
      }
    }
    for (const w of [...this.#watchers]) if (w.check()) this.#watchers.delete(w);
  }

  #onClosed(error: MeshError): void {
    if (this.#closed !== null) return;
    this.#closed = error;
    this.#emit({ type: "error", error });
    this.#session?.abort(new MeshError("ERR_SIGNALING_CLOSED", error.message, { cause: error }));
    this.#failWatchers(error);
  }

  #failWatchers(error: MeshError): void {
    const ws = [...this.#watchers];
    this.#watchers.clear();
    for (const w of ws) w.fail(error);
  }

  /** Resolves with the first state (current or later) that satisfies `pred`. */
  #until(
    pred: (s: RoomState) => boolean,
    options: AcquireOptions,
    deadlineMs: number,
  ): Promise<RoomState> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    if (pred(this.#state)) return Promise.resolve(this.#state);
    return new Promise<RoomState>((resolve, reject) => {
      const done = (): void => {
        cancelTimer();
        options.signal?.removeEventListener("abort", onAbort);
        this.#watchers.delete(w);
      };
      const w: Watcher = {
        check: () => {
          if (!pred(this.#state)) return false;
          done();
          resolve(this.#state);
          return true;
        },
        fail: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => w.fail(new MeshError("ERR_ABORTED", "acquire aborted"));
      const cancelTimer = this.#clock.after(Math.max(0, deadlineMs - this.#clock.now()), () =>
        w.fail(new MeshError("ERR_TIMEOUT", "timed out waiting for the room")),
      );
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#watchers.add(w);
    });
  }
}

/**
 * The stage a pipeline failure names (details.peerId, as the pipeline reports it): the string "head" when
 * it is this head's own shard, null when it names none of the plan's stages (a plan change, a closed room).
 */
function suspectOf(error: MeshError, plan: PipelinePlan, headId: string): string | null {
  const peerId = (error.details as { peerId?: unknown } | undefined)?.peerId;
  if (typeof peerId !== "string") return null;
  if (peerId === headId || peerId === "head") return "head";
  return plan.stages.some((st) => st.peerId === peerId) ? peerId : null;
}
