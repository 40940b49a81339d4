// What the room page says about each member: its role, assigned layers and status (a standby: the range it
// would take over), read off the room state the signaling server broadcasts. Pure functions
// (unit-tested); the peer list renders them.

import type { LayerRange, MemberInfo, RoomState } from "@pipemesh/mesh";

export type MemberStatus =
  | "chatting"
  | "queued"
  | "viewer"
  | "serving"
  | "ready"
  | "loading"
  | "standby"
  | "idle"
  | "waiting";

export interface MemberRow {
  peerId: string;
  name: string;
  role: "chat" | "contributor";
  adapter: string;
  memoryBudgetBytes: number;
  gflops: number;
  /** "0–2", "2–4 + head", "embeddings", or "" */
  layers: string;
  status: MemberStatus;
  /** 1-based queue position for queued heads. */
  queuePosition: number | null;
  /** The range an idle contributor stands by for (status "standby"), and whether it has loaded it. */
  standby: (LayerRange & { loaded: boolean }) | null;
}

const STATUS_TEXT: Record<MemberStatus, string> = {
  chatting: "chatting",
  queued: "queued",
  viewer: "viewing",
  serving: "serving",
  ready: "loaded",
  loading: "loading",
  standby: "standby",
  idle: "idle (no layers)",
  waiting: "waiting for a plan",
};

/** The status as the room page words it: "standby for layers 2–4" (with "loading" until it has them). */
export function statusText(row: Pick<MemberRow, "status" | "standby">): string {
  const s = row.standby;
  if (row.status === "standby" && s !== null) {
    const range = `standby for layers ${s.layerStart}–${s.layerEnd}`;
    return s.loaded ? range : `loading ${range}`;
  }
  return STATUS_TEXT[row.status];
}

export function memberRow(state: RoomState, m: MemberInfo): MemberRow {
  const plan = state.plan;
  const stageIndex = plan?.stages.findIndex((s) => s.peerId === m.peerId) ?? -1;
  const stage = stageIndex >= 0 ? plan?.stages[stageIndex] : undefined;
  const isTail = plan !== null && stageIndex === plan.stages.length - 1;
  let layers = "";
  if (stage !== undefined) {
    const range = stage.layerEnd > stage.layerStart ? `${stage.layerStart}–${stage.layerEnd}` : "";
    const extras = [plan?.headId === m.peerId ? "embeddings" : "", isTail ? "LM head" : ""].filter(
      (s) => s !== "",
    );
    layers = [range, ...extras].filter((s) => s !== "").join(" + ");
  }
  const queueIndex = state.queue.indexOf(m.peerId);
  const standsBy =
    m.role === "stage" && stage === undefined
      ? plan?.standby?.find((s) => s.peerId === m.peerId)
      : undefined;
  const standby =
    standsBy === undefined
      ? null
      : {
          layerStart: standsBy.layerStart,
          layerEnd: standsBy.layerEnd,
          loaded:
            m.loaded !== null &&
            m.loaded.layerStart === standsBy.layerStart &&
            m.loaded.layerEnd === standsBy.layerEnd,
        };
  let status: MemberStatus;
  if (m.role === "head") {
    status = state.active === m.peerId ? "chatting" : queueIndex >= 0 ? "queued" : "viewer";
  } else if (stage === undefined) {
    status = plan === null ? "waiting" : standby !== null ? "standby" : "idle";
  } else {
    const loaded =
      m.loaded !== null &&
      m.loaded.layerStart === stage.layerStart &&
      m.loaded.layerEnd === stage.layerEnd;
    status = !loaded ? "loading" : state.ready && plan?.headId !== null ? "serving" : "ready";
  }
  return {
    peerId: m.peerId,
    name: m.caps.name ?? m.peerId.slice(0, 8),
    role: m.role === "head" ? "chat" : "contributor",
    adapter: m.caps.adapter.description,
    memoryBudgetBytes: m.caps.memoryBudgetBytes,
    gflops: m.caps.matmulGflops,
    layers,
    status,
    queuePosition: queueIndex >= 0 ? queueIndex + 1 : null,
    standby,
  };
}

/** Contributors first in plan order, then idle contributors, then chat tabs. */
export function memberRows(state: RoomState): MemberRow[] {
  const order = new Map(state.plan?.stages.map((s, i) => [s.peerId, i]) ?? []);
  const rank = (m: MemberInfo): number =>
    m.role === "head" ? 1e6 + (order.get(m.peerId) ?? 0) : (order.get(m.peerId) ?? 1e5);
  return [...state.members].sort((a, b) => rank(a) - rank(b)).map((m) => memberRow(state, m));
}

/**
 * A contributor joined (or changed its capabilities) while a head held a ready plan: the room froze the
 * plan, so the newcomer is neither a stage nor idle in it. Releasing the generation slot lets it re-plan.
 */
export function hasUnplannedContributor(state: RoomState): boolean {
  const plan = state.plan;
  if (plan === null) return false;
  const planned = new Set([...plan.stages.map((s) => s.peerId), ...plan.idle]);
  return state.members.some((m) => m.role === "stage" && !planned.has(m.peerId));
}
