// One room as the signaling server sees it: members and their capabilities, the versioned pipeline plan
// (with its standby members), which members have loaded which ranges, the active generation and the queue
// of waiting heads. A stage that leaves is replaced with the least movement (repair-plan.ts) before the
// room plans from scratch. Pure state: no sockets, no timers. The relay turns its return values into
// messages.

import { isMeshError } from "../errors.ts";
import { computePlan } from "../pipeline/plan.ts";
import {
  repairPlan,
  standbyFor,
  type LayerSizing,
  type RepairKind,
  type RepairMember,
} from "../pipeline/repair-plan.ts";
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

/** The shortest context the room plans for when memory is short (below it: ERR_PLAN_IMPOSSIBLE). */
export const MIN_PLANNED_CONTEXT = 256;

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
  #lastRepair: RepairKind | null = null;

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
    if (role === "stage") return this.#changed();
    // A head holds no layers until it is granted the slot: the stages stay as they are.
    if (!(this.#active !== null && this.ready)) this.#headChanged();
    return [];
  }

  /**
   * A member left (or was evicted). A stage of the plan is replaced with the least movement when a repair
   * fits (the other stages keep their ranges), else the room plans from scratch; an idle member leaving
   * changes only who is idle or standing by; the active head leaving hands the slot on (the stages stay).
   */
  leave(peerId: string): RoomNotice[] {
    const member = this.#members.get(peerId);
    if (member === undefined) return [];
    this.#members.delete(peerId);
    const inPlan = this.#plan?.stages.some((s) => s.peerId === peerId) ?? false;
    this.#queue = this.#queue.filter((q) => q !== peerId);
    if (this.#active === peerId) {
      this.#active = null;
      this.#headChanged();
      return this.#grantNext();
    }
    if (inPlan) {
      if (this.#repair(peerId) === null) this.#replan();
      return this.#positions();
    }
    // A waiting or watching head holds nothing in the plan.
    if (member.role === "head") return this.#positions();
    // An idle member: it leaves the plan's idle and standby lists now, or when the generation running on
    // a ready plan ends (a new version now would end that generation's sessions).
    if (!(this.#active !== null && this.ready) && !this.#carry()) this.#replan();
    return this.#positions();
  }

  /**
   * Whether `reporter` may have `peerId` evicted: null when it may (it is the active head and `peerId`
   * holds a stage of the current plan other than the head's), else why not.
   */
  reportRefusal(reporter: string, peerId: string): string | null {
    const plan = this.#plan;
    if (this.#active !== reporter) return "only the active head may report a member";
    if (plan === null || plan.headId !== reporter) return "there is no plan with this head";
    if (peerId === reporter) return "the head cannot report itself";
    if (!this.#members.has(peerId)) return `peer ${peerId} is not in this room`;
    if (!plan.stages.some((s) => s.peerId === peerId))
      return `peer ${peerId} holds no stage of plan v${plan.version}`;
    return null;
  }

  /** How the last repair gave the lost range away (for logs and tests), or null after a full plan. */
  get lastRepair(): RepairKind | null {
    return this.#lastRepair;
  }

  setCaps(peerId: string, caps: PeerCapabilities): RoomNotice[] {
    const m = this.#members.get(peerId);
    if (m === undefined) return [];
    m.caps = caps;
    return this.#changed();
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
      this.#headChanged();
      return this.#grantNext();
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
    this.#headChanged();
    const notices: RoomNotice[] = [
      { to: next, type: "granted", planVersion: this.#plan?.version ?? 0 },
    ];
    return [...notices, ...this.#positions()];
  }

  #positions(): RoomNotice[] {
    return this.#queue.map((to, i) => ({ to, type: "queued", position: i + 1 }));
  }

  /**
   * A member joined or changed its capabilities: the room plans from scratch, except while a generation
   * runs on a ready plan, which stays frozen (the change is planned when the generation ends).
   */
  #changed(): RoomNotice[] {
    if (this.#active !== null && this.ready) {
      this.#dirty = true;
      return [];
    }
    this.#replan();
    return [];
  }

  /**
   * The generating head changed (granted, released, or it left). The stages stay as they are when the
   * members did not change meanwhile and the old head held no layers (a plan from scratch would only
   * differ after a repair, and would move the repaired ranges again); otherwise the room plans anew.
   */
  #headChanged(): void {
    if (!this.#carry()) this.#replan();
  }

  /** Stage-role members that may hold layers (not the active head), planning order first. */
  #stagePeers(): Member[] {
    // Peers that hold layers of this model in their cache go first, in the order of those layers, so a
    // returning peer gets back the range it has (a stable sort keeps join order among the others).
    const held = (m: Member): number =>
      m.caps.models.find((x) => x.modelId === this.model.id)?.layers?.layerStart ?? Infinity;
    return [...this.#members.values()]
      .filter((m) => m.role === "stage" && m.peerId !== this.#active)
      .sort((a, b) => Math.sign(held(a) - held(b)) || 0); // NaN (both hold none): keep order
  }

  #repairMembers(): RepairMember[] {
    return this.#stagePeers().map((m) => ({
      peerId: m.peerId,
      speed: m.caps.matmulGflops,
      memoryBudgetBytes: m.caps.memoryBudgetBytes,
      loaded: m.loaded,
    }));
  }

  /** Layer sizes at a planned context (shorter contexts hold less K/V per layer). */
  #sizing(contextLength: number | undefined): LayerSizing {
    const less =
      contextLength === undefined
        ? 0
        : ((this.model.contextLength ?? contextLength) - contextLength) *
          (this.model.kvBytesPerToken ?? 0);
    return {
      layerCount: this.model.layerCount,
      layerBytes: this.model.layerBytes - less,
      layerSizes: this.model.layerSizes?.map((b) => b - less),
      tailExtraBytes: this.model.headBytes,
    };
  }

  /**
   * Replaces the lost stage `peerId` with the least movement (repair-plan.ts): a new plan version with the
   * same head and context. Null (nothing changed) when no repair fits.
   */
  #repair(peerId: string): RepairKind | null {
    const plan = this.#plan;
    if (plan === null || plan.headId === peerId) return null;
    const sizing = this.#sizing(plan.contextLength);
    const members = this.#repairMembers();
    const repaired = repairPlan({
      ...sizing,
      stages: plan.stages,
      headId: plan.headId,
      lost: peerId,
      members,
      standby: plan.standby,
    });
    if (repaired === null) return null;
    this.#setPlan(plan.headId, plan.contextLength, repaired.stages, repaired.idle, members);
    this.#lastRepair = repaired.kind;
    return repaired.kind;
  }

  /**
   * Keeps the plan's stages for the current head and members, refreshing who is idle and standing by.
   * False (nothing changed) when it cannot: no plan, changes waiting (#dirty), the old head held layers,
   * or a stage is no longer a member that may hold layers.
   */
  #carry(): boolean {
    const plan = this.#plan;
    if (plan === null || this.#dirty) return false;
    const oldHead = plan.stages.find((s) => s.peerId === plan.headId);
    if (oldHead !== undefined && oldHead.layerEnd > oldHead.layerStart) return false;
    const members = this.#repairMembers();
    const ids = new Set(members.map((m) => m.peerId));
    const kept = plan.stages.filter((s) => s.peerId !== plan.headId).map((s) => ({ ...s }));
    if (kept.length === 0 || kept.some((s) => !ids.has(s.peerId))) return false;
    const headId = this.#active;
    const stages =
      headId === null ? kept : [{ peerId: headId, layerStart: 0, layerEnd: 0 }, ...kept];
    const holding = new Set(kept.map((s) => s.peerId));
    const idle = members.filter((m) => !holding.has(m.peerId)).map((m) => m.peerId);
    this.#setPlan(headId, plan.contextLength, stages, idle, members);
    return true;
  }

  /** Makes `stages` the plan (a new version unless nothing changed), with its standby members. */
  #setPlan(
    headId: string | null,
    contextLength: number | undefined,
    stages: PlanStage[],
    idle: string[],
    members: readonly RepairMember[],
  ): void {
    const standby = standbyFor({ ...this.#sizing(contextLength), stages, headId, members });
    const same =
      this.#plan !== null &&
      this.#plan.headId === headId &&
      this.#plan.contextLength === contextLength &&
      JSON.stringify(this.#plan.stages) === JSON.stringify(stages) &&
      JSON.stringify(this.#plan.idle) === JSON.stringify(idle) &&
      JSON.stringify(this.#plan.standby ?? []) === JSON.stringify(standby);
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
    if (standby.length > 0) this.#plan.standby = standby;
  }

  /** Plans from scratch: computePlan over every member, halving the context while it does not fit. */
  #replan(): void {
    this.#dirty = false;
    this.#lastRepair = null;
    const head = this.#active === null ? null : (this.#members.get(this.#active) ?? null);
    const members = this.#repairMembers();
    const peers = members.map((m) => ({
      peerId: m.peerId,
      speed: m.speed,
      memoryBudgetBytes: m.memoryBudgetBytes,
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
      try {
        ({ stages, idle } = computePlan({
          ...this.#sizing(ctx),
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
    this.#setPlan(head?.peerId ?? null, contextLength, stages, idle, members);
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
