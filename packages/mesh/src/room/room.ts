// One room as the signaling server sees it: members and their capabilities, the versioned pipeline plan,
// which stages have loaded their ranges, the active generation and the queue of waiting heads. Pure state:
// no sockets, no timers. The relay turns its return values into messages.

import { isMeshError } from "../errors.ts";
import { computePlan } from "../pipeline/plan.ts";

/** The shortest context the room plans for when memory is short (below it: ERR_PLAN_IMPOSSIBLE). */
export const MIN_PLANNED_CONTEXT = 256;
import type {
  LoadedRange,
  MemberInfo,
  ModelInfo,
  PeerCapabilities,
  PeerRole,
  PipelinePlan,
  PlanStage,
  RoomState,
} from "../protocol/messages.ts";

interface Member {
  peerId: string;
  role: PeerRole;
  caps: PeerCapabilities;
  loaded: LoadedRange | null;
}

/** A message for one member that the relay must send (besides the state broadcast). */
export type RoomNotice =
  | { to: string; type: "queued"; position: number }
  | { to: string; type: "granted"; planVersion: number };

export class Room {
  readonly roomId: string;
  readonly secret: string;
  readonly model: ModelInfo;
  readonly #members = new Map<string, Member>();
  #plan: PipelinePlan | null = null;
  #planError: RoomState["planError"] = null;
  #version = 0;
  #active: string | null = null;
  #queue: string[] = [];
  #dirty = false;

  constructor(roomId: string, secret: string, model: ModelInfo) {
    this.roomId = roomId;
    this.secret = secret;
    this.model = model;
  }

  get size(): number {
    return this.#members.size;
  }

  has(peerId: string): boolean {
    return this.#members.has(peerId);
  }

  memberIds(): string[] {
    return [...this.#members.keys()];
  }

  join(peerId: string, role: PeerRole, caps: PeerCapabilities): RoomNotice[] {
    this.#members.set(peerId, { peerId, role, caps, loaded: null });
    return this.#changed(false);
  }

  leave(peerId: string): RoomNotice[] {
    if (!this.#members.delete(peerId)) return [];
    const inPlan = this.#plan?.stages.some((s) => s.peerId === peerId) ?? false;
    this.#queue = this.#queue.filter((q) => q !== peerId);
    if (this.#active === peerId) {
      this.#active = null;
      return [...this.#changed(true), ...this.#grantNext()];
    }
    return [...this.#changed(inPlan), ...this.#positions()];
  }

  setCaps(peerId: string, caps: PeerCapabilities): RoomNotice[] {
    const m = this.#members.get(peerId);
    if (m === undefined) return [];
    m.caps = caps;
    return this.#changed(false);
  }

  setLoaded(peerId: string, range: LoadedRange): void {
    const m = this.#members.get(peerId);
    if (m === undefined) return;
    const loaded: LoadedRange = { layerStart: range.layerStart, layerEnd: range.layerEnd };
    if (range.weightBytes !== undefined) loaded.weightBytes = range.weightBytes;
    if (range.kvBytes !== undefined) loaded.kvBytes = range.kvBytes;
    m.loaded = loaded;
  }

  /** A head asks for the generation slot: granted now, or queued with its 1-based position. */
  request(peerId: string): RoomNotice[] {
    if (!this.#members.has(peerId) || this.#active === peerId || this.#queue.includes(peerId)) {
      return this.#active === peerId && this.#plan !== null
        ? [{ to: peerId, type: "granted", planVersion: this.#plan.version }]
        : this.#positions().filter((n) => n.to === peerId);
    }
    this.#queue.push(peerId);
    return this.#active === null ? this.#grantNext() : this.#positions();
  }

  /** The active head is done (or a queued head gives up). */
  release(peerId: string): RoomNotice[] {
    if (this.#active === peerId) {
      this.#active = null;
      return [...this.#changed(true), ...this.#grantNext()];
    }
    const before = this.#queue.length;
    this.#queue = this.#queue.filter((q) => q !== peerId);
    return before === this.#queue.length ? [] : this.#positions();
  }

  get plan(): PipelinePlan | null {
    return this.#plan;
  }

  /** Every stage of the plan reports its range loaded. */
  get ready(): boolean {
    const plan = this.#plan;
    if (plan === null) return false;
    return plan.stages.every((s) => {
      const l = this.#members.get(s.peerId)?.loaded;
      return (
        l !== null && l !== undefined && l.layerStart === s.layerStart && l.layerEnd === s.layerEnd
      );
    });
  }

  state(): RoomState {
    const members: MemberInfo[] = [...this.#members.values()].map((m) => ({
      peerId: m.peerId,
      role: m.role,
      caps: m.caps,
      loaded: m.loaded,
    }));
    return {
      roomId: this.roomId,
      model: this.model,
      members,
      plan: this.#plan,
      planError: this.#planError,
      ready: this.ready,
      active: this.#active,
      queue: [...this.#queue],
    };
  }

  #grantNext(): RoomNotice[] {
    const next = this.#queue.shift();
    if (next === undefined) return [];
    this.#active = next;
    this.#replan();
    const notices: RoomNotice[] = [
      { to: next, type: "granted", planVersion: this.#plan?.version ?? 0 },
    ];
    return [...notices, ...this.#positions()];
  }

  #positions(): RoomNotice[] {
    return this.#queue.map((to, i) => ({ to, type: "queued", position: i + 1 }));
  }

  /**
   * Membership changed. While a generation runs on a ready plan, the plan is frozen (a join produces a new
   * plan for the next request) unless the change broke it (`force`: a plan member left).
   */
  #changed(force: boolean): RoomNotice[] {
    if (!force && this.#active !== null && this.ready) {
      this.#dirty = true;
      return [];
    }
    this.#replan();
    return [];
  }

  #replan(): void {
    this.#dirty = false;
    const head = this.#active === null ? null : (this.#members.get(this.#active) ?? null);
    // Peers that hold layers of this model in their cache go first, in the order of those layers, so a
    // returning peer gets back the range it has (a stable sort keeps join order among the others).
    const held = (m: Member): number =>
      m.caps.models.find((x) => x.modelId === this.model.id)?.layers?.layerStart ?? Infinity;
    const peers = [...this.#members.values()]
      .filter((m) => m.role === "stage" && m.peerId !== this.#active)
      .sort((a, b) => Math.sign(held(a) - held(b)) || 0) // NaN (both hold none): keep order
      .map((m) => ({
        peerId: m.peerId,
        speed: m.caps.matmulGflops,
        memoryBudgetBytes: m.caps.memoryBudgetBytes,
      }));
    const headPeer =
      head === null
        ? null
        : {
            peerId: head.peerId,
            speed: head.caps.matmulGflops,
            memoryBudgetBytes: head.caps.memoryBudgetBytes,
          };
    let stages: PlanStage[] = [];
    let idle: string[] = [];
    let contextLength = this.model.contextLength;
    // The model's context first; when the members cannot hold its K/V, halve it (not below
    // MIN_PLANNED_CONTEXT) and say so in the plan: a shorter context beats no pipeline.
    for (const ctx of this.#contexts()) {
      const less =
        ctx === undefined
          ? 0
          : ((this.model.contextLength ?? ctx) - ctx) * (this.model.kvBytesPerToken ?? 0);
      try {
        ({ stages, idle } = computePlan({
          layerCount: this.model.layerCount,
          layerBytes: this.model.layerBytes - less,
          layerSizes: this.model.layerSizes?.map((b) => b - less),
          tailExtraBytes: this.model.headBytes,
          headExtraBytes: this.model.embedBytes,
          peers,
          head: headPeer,
        }));
        contextLength = ctx;
        break;
      } catch (e) {
        if (!isMeshError(e)) throw e;
        if (ctx !== this.#contexts().at(-1)) continue;
        if (this.#plan !== null || this.#planError === null) this.#version++;
        this.#plan = null;
        this.#planError = { code: e.code, message: e.message };
        return;
      }
    }
    const headId = head?.peerId ?? null;
    const same =
      this.#plan !== null &&
      this.#plan.headId === headId &&
      this.#plan.contextLength === contextLength &&
      JSON.stringify(this.#plan.stages) === JSON.stringify(stages) &&
      JSON.stringify(this.#plan.idle) === JSON.stringify(idle);
    this.#planError = null;
    if (same) return;
    this.#version++;
    this.#plan = {
      version: this.#version,
      modelId: this.model.id,
      layerCount: this.model.layerCount,
      headId,
      stages,
      idle,
    };
    if (contextLength !== undefined) this.#plan.contextLength = contextLength;
    if (this.model.source !== undefined) this.#plan.modelUrl = this.model.source.url;
  }

  /** The context lengths to try, longest first (just the model's when it names no K/V size). */
  #contexts(): (number | undefined)[] {
    const ctx = this.model.contextLength;
    if (ctx === undefined || this.model.kvBytesPerToken === undefined) return [ctx];
    const out = [ctx];
    for (let c = Math.floor(ctx / 2); c >= MIN_PLANNED_CONTEXT; c = Math.floor(c / 2)) out.push(c);
    return out;
  }

  /** True when a membership change is waiting to be planned (applied when the generation ends). */
  get dirty(): boolean {
    return this.#dirty;
  }
}
