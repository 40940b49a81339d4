// Least-movement repair of a pipeline plan after one of its stages is lost, and the standby assignment of
// idle members. Pure: no versioning, no I/O; the room versions what these return. A repair keeps every
// surviving stage's range (and so the weights it has loaded) where it can and gives only the lost range
// away; the standby assignment says which idle member would take which range, so it can preload it.

import type { LayerRange, PlanStage } from "../protocol/messages.ts";

/** A member that may hold layers: a surviving stage or an idle member (never the head). */
export interface RepairMember {
  peerId: string;
  /** Measured matmul speed; <= 0 means "do not give me layers" (as in plan.ts). */
  speed: number;
  memoryBudgetBytes: number;
  /** The range this member reports loaded, or null. */
  loaded: LayerRange | null;
}

/** What a range of layers costs a member's budget. */
export interface LayerSizing {
  layerCount: number;
  /** Bytes of one layer (the mean when layers differ; see layerSizes). */
  layerBytes: number;
  /** Bytes of each layer (length layerCount) when they differ. */
  layerSizes?: readonly number[] | undefined;
  /** Bytes the tail holds beyond its layers (final norm + LM head). */
  tailExtraBytes?: number;
}

export interface RepairInput extends LayerSizing {
  /** The plan's stages before the loss, in pipeline order (with a head, stages[0] is the head). */
  stages: readonly PlanStage[];
  headId: string | null;
  /** The stage that was lost (never the head). */
  lost: string;
  /**
   * The members that may hold layers now, in the room's order: the surviving stages and the idle
   * members (not the lost member, not the head).
   */
  members: readonly RepairMember[];
  /** The plan's standby assignments: an idle member standing by for the lost range is preferred. */
  standby?: readonly PlanStage[] | undefined;
}

/**
 * How the lost range was given away: to an idle member that had it loaded (`standby`), to another idle
 * member (`idle`), to one neighbour (`extend`) or to both (`split`).
 */
export type RepairKind = "standby" | "idle" | "extend" | "split";

export interface RepairOutput {
  /** In pipeline order; every stage that survived keeps its peer, and all but at most two their ranges. */
  stages: PlanStage[];
  /** Members given no layers, in the members' order. */
  idle: string[];
  kind: RepairKind;
}

export interface StandbyInput extends LayerSizing {
  /** The plan's stages in pipeline order. */
  stages: readonly PlanStage[];
  headId: string | null;
  /** Members that could stand by, in the room's order (those holding a stage, and the head, are skipped). */
  members: readonly RepairMember[];
}

/** Bytes of layers [start, end) plus the tail's extras when `tail`. */
export function rangeBytes(sizing: LayerSizing, start: number, end: number, tail: boolean): number {
  const sizes = sizing.layerSizes;
  let bytes = 0;
  if (sizes !== undefined && sizes.length === sizing.layerCount) {
    for (let l = start; l < end; l++) bytes += sizes[l] ?? 0;
  } else {
    bytes = (end - start) * sizing.layerBytes;
  }
  return bytes + (tail ? (sizing.tailExtraBytes ?? 0) : 0);
}

/** Budget left to `m` after holding [start, end) (+ tail extras); negative when it does not fit. */
function spare(
  sizing: LayerSizing,
  m: RepairMember,
  start: number,
  end: number,
  tail: boolean,
): number {
  if (!(m.speed > 0)) return -1;
  return m.memoryBudgetBytes - rangeBytes(sizing, start, end, tail);
}

function holds(m: RepairMember, start: number, end: number): boolean {
  return m.loaded !== null && m.loaded.layerStart === start && m.loaded.layerEnd === end;
}

/**
 * Repairs a plan after the loss of stage `lost` with the least movement, trying in order: (i) an idle
 * member that has exactly the lost range loaded (a standby); (ii) an idle member whose budget holds it
 * (the lost range's standby first, then the fastest), in the lost stage's place; (iii) extending the
 * previous stage (never the head) or the next one over it, whichever has more budget to spare after; (iv)
 * splitting it between both neighbours at the layer boundary that leaves the smaller spare budget largest.
 * The tail's extras count wherever a member becomes the tail. Null when none fits (or `lost` is not a
 * stage, or is the head): the caller plans from scratch.
 */
export function repairPlan(input: RepairInput): RepairOutput | null {
  const { stages, headId, lost } = input;
  const i = stages.findIndex((s) => s.peerId === lost);
  const gone = stages[i];
  if (gone === undefined || lost === headId) return null;
  const a = gone.layerStart;
  const b = gone.layerEnd;
  if (b <= a) return null;
  const byId = new Map(input.members.map((m) => [m.peerId, m]));
  const planned = new Set(stages.map((s) => s.peerId));
  const lostIsTail = i === stages.length - 1;
  const idle = input.members.filter((m) => !planned.has(m.peerId) && m.peerId !== headId);

  const done = (next: PlanStage[], kind: RepairKind): RepairOutput => {
    const now = new Set(next.map((s) => s.peerId));
    return {
      stages: next,
      idle: input.members
        .filter((m) => !now.has(m.peerId) && m.peerId !== headId)
        .map((m) => m.peerId),
      kind,
    };
  };
  const replaced = (peerId: string): PlanStage[] =>
    stages.map((s, j) => (j === i ? { peerId, layerStart: a, layerEnd: b } : { ...s }));

  // (i) A standby that preloaded exactly the lost range.
  const standing = idle.find((m) => holds(m, a, b) && spare(input, m, a, b, lostIsTail) >= 0);
  if (standing !== undefined) return done(replaced(standing.peerId), "standby");

  // (ii) An idle member with the budget for it: the range's standby first, then the fastest.
  const standbyFor = input.standby?.find((s) => s.layerStart === a && s.layerEnd === b)?.peerId;
  const fitting = idle
    .map((m, order) => ({ m, order }))
    .filter(({ m }) => spare(input, m, a, b, lostIsTail) >= 0)
    .sort(
      (x, y) =>
        Number(y.m.peerId === standbyFor) - Number(x.m.peerId === standbyFor) ||
        y.m.speed - x.m.speed ||
        x.order - y.order,
    );
  const taker = fitting[0]?.m;
  if (taker !== undefined) return done(replaced(taker.peerId), "idle");

  // Neighbours: the previous stage unless it is the head, and the next one.
  const prevStage = i > 0 ? stages[i - 1] : undefined;
  const nextStage = stages[i + 1];
  const prev =
    prevStage !== undefined && prevStage.peerId !== headId ? byId.get(prevStage.peerId) : undefined;
  const next = nextStage !== undefined ? byId.get(nextStage.peerId) : undefined;
  const nextIsTail = i + 1 === stages.length - 1;
  const without = (changes: Map<number, PlanStage>): PlanStage[] =>
    stages.flatMap((s, j) => (j === i ? [] : [changes.get(j) ?? { ...s }]));

  // (iii) One neighbour takes it all.
  const options: { spare: number; stages: PlanStage[] }[] = [];
  if (prev !== undefined && prevStage !== undefined) {
    const left = spare(input, prev, prevStage.layerStart, b, lostIsTail);
    if (left >= 0) {
      const grown = { peerId: prev.peerId, layerStart: prevStage.layerStart, layerEnd: b };
      options.push({ spare: left, stages: without(new Map([[i - 1, grown]])) });
    }
  }
  if (next !== undefined && nextStage !== undefined) {
    const left = spare(input, next, a, nextStage.layerEnd, nextIsTail);
    if (left >= 0) {
      const grown = { peerId: next.peerId, layerStart: a, layerEnd: nextStage.layerEnd };
      options.push({ spare: left, stages: without(new Map([[i + 1, grown]])) });
    }
  }
  // More spare budget wins; on a tie the previous stage (listed first).
  const best = options.reduce<(typeof options)[number] | undefined>(
    (x, y) => (x === undefined || y.spare > x.spare ? y : x),
    undefined,
  );
  if (best !== undefined) return done(best.stages, "extend");

  // (iv) Both neighbours share it at a layer boundary.
  if (
    prev !== undefined &&
    prevStage !== undefined &&
    next !== undefined &&
    nextStage !== undefined
  ) {
    let bestCut = -1;
    let bestMin = -Infinity;
    for (let c = a + 1; c < b; c++) {
      const left = spare(input, prev, prevStage.layerStart, c, false);
      const right = spare(input, next, c, nextStage.layerEnd, nextIsTail);
      if (left < 0 || right < 0) continue;
      if (Math.min(left, right) > bestMin) {
        bestMin = Math.min(left, right);
        bestCut = c;
      }
    }
    if (bestCut > 0) {
      return done(
        without(
          new Map([
            [i - 1, { peerId: prev.peerId, layerStart: prevStage.layerStart, layerEnd: bestCut }],
            [i + 1, { peerId: next.peerId, layerStart: bestCut, layerEnd: nextStage.layerEnd }],
          ]),
        ),
        "split",
      );
    }
  }
  return null;
}

/**
 * Standby assignments for a plan: the non-head stages with layers, largest (bytes) first, each get at
 * most one idle member with speed > 0 whose budget holds that stage's range (plus the tail's extras for
 * the tail); a member that has the range loaded goes first, then the fastest, then the members' order.
 * Each member stands by for at most one stage. In pipeline order.
 */
export function standbyFor(input: StandbyInput): PlanStage[] {
  const { stages, headId } = input;
  const planned = new Set(stages.map((s) => s.peerId));
  const free = input.members
    .map((m, order) => ({ m, order }))
    .filter(({ m }) => !planned.has(m.peerId) && m.peerId !== headId && m.speed > 0);
  const last = stages.length - 1;
  const covered = stages
    .map((s, j) => ({ s, j, tail: j === last }))
    .filter(({ s }) => s.peerId !== headId && s.layerEnd > s.layerStart)
    .map((x) => ({ ...x, bytes: rangeBytes(input, x.s.layerStart, x.s.layerEnd, x.tail) }))
    .sort((x, y) => y.bytes - x.bytes || x.j - y.j);
  const out: { j: number; stage: PlanStage }[] = [];
  const taken = new Set<string>();
  for (const { s, j, tail } of covered) {
    const pick = free
      .filter(
        ({ m }) => !taken.has(m.peerId) && spare(input, m, s.layerStart, s.layerEnd, tail) >= 0,
      )
      .sort(
        (x, y) =>
          Number(holds(y.m, s.layerStart, s.layerEnd)) -
            Number(holds(x.m, s.layerStart, s.layerEnd)) ||
          y.m.speed - x.m.speed ||
          x.order - y.order,
      )[0];
    if (pick === undefined) continue;
    taken.add(pick.m.peerId);
    out.push({
      j,
      stage: { peerId: pick.m.peerId, layerStart: s.layerStart, layerEnd: s.layerEnd },
    });
  }
  return out.sort((x, y) => x.j - y.j).map((x) => x.stage);
}
