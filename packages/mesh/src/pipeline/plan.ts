// Pure pipeline planning: contiguous layer ranges sized in proportion to each peer's measured speed and
// capped by its memory budget (with the real size of every layer when they differ). The head (if any) comes first and holds the embeddings; it takes layers only
// when the other peers cannot hold them all. No versioning, no I/O: the room versions what this returns.

import { MeshError } from "../errors.ts";
import type { LayerRange, PlanStage } from "../protocol/messages.ts";

export interface PlanPeer {
  peerId: string;
  /** Measured matmul speed (any unit, only ratios matter); <= 0 means "do not give me layers". */
  speed: number;
  memoryBudgetBytes: number;
}

export interface PlanInput {
  layerCount: number;
  /** Bytes of one layer (the mean when layers differ; see layerSizes). */
  layerBytes: number;
  /**
   * Bytes of each layer (length layerCount) when they differ (quantized files mix types per layer): each
   * stage's range is then checked against its budget with the real sizes of the layers it gets.
   */
  layerSizes?: readonly number[] | undefined;
  /** Bytes the tail holds beyond its layers (final norm + LM head). */
  tailExtraBytes?: number;
  /** Bytes the head holds beyond its layers (embeddings; the draft model is the app's business). */
  headExtraBytes?: number;
  /** Stage candidates in pipeline order (join order). Must not include the head. */
  peers: readonly PlanPeer[];
  /** The generating peer: stage 0 with range [0, k). Null plans the stages alone. */
  head?: PlanPeer | null;
}

export interface PlanOutput {
  /** In pipeline order; with a head, stages[0] is the head (possibly holding zero layers). */
  stages: PlanStage[];
  /** Peers given no layers. */
  idle: string[];
}

interface Slot {
  peerId: string;
  speed: number;
  /** Layers that fit next to `extraBytes`. */
  capLayers: number;
  budgetBytes: number;
  extraBytes: number;
}

/** Largest-remainder split of `total` in proportion to `weights`, capped per slot (water-filling). */
export function proportionalSplit(
  total: number,
  weights: readonly number[],
  caps: readonly number[],
): number[] | null {
  const n = weights.length;
  const out = new Array<number>(n).fill(0);
  let open = weights.map((w, i) => (w > 0 && (caps[i] ?? 0) > 0 ? i : -1)).filter((i) => i >= 0);
  let left = total;
  while (left > 0) {
    if (open.length === 0) return null;
    const wsum = open.reduce((s, i) => s + (weights[i] ?? 0), 0);
    const quota = open.map((i) => (left * (weights[i] ?? 0)) / wsum);
    const share = quota.map((q) => Math.floor(q));
    let rest = left - share.reduce((a, b) => a + b, 0);
    // Remainders: largest fraction first, ties to the earlier slot.
    const order = open
      .map((_, j) => j)
      .sort(
        (a, b) => (quota[b] ?? 0) - (share[b] ?? 0) - ((quota[a] ?? 0) - (share[a] ?? 0)) || a - b,
      );
    for (const j of order) {
      if (rest === 0) break;
      share[j] = (share[j] ?? 0) + 1;
      rest--;
    }
    let overflow = false;
    const stillOpen: number[] = [];
    open.forEach((i, j) => {
      const room = (caps[i] ?? 0) - (out[i] ?? 0);
      const take = Math.min(room, share[j] ?? 0);
      if ((share[j] ?? 0) > room) overflow = true;
      out[i] = (out[i] ?? 0) + take;
      left -= take;
      if ((out[i] ?? 0) < (caps[i] ?? 0)) stillOpen.push(i);
    });
    if (!overflow) break;
    open = stillOpen;
  }
  return left === 0 ? out : null;
}

function layersThatFit(budget: number, extra: number, layerBytes: number): number {
  const room = budget - extra;
  if (room < 0) return 0;
  if (layerBytes <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(room / layerBytes);
}

function impossible(message: string, details: Record<string, unknown>): MeshError {
  return new MeshError("ERR_PLAN_IMPOSSIBLE", message, { details });
}

/** Assign layers to slots in order, making sure the last slot with layers can also hold the tail extras. */
function assign(input: PlanInput, slots: readonly Slot[], tailExtra: number): number[] | null {
  let active = slots.map((_, i) => i);
  for (let attempt = 0; attempt <= slots.length; attempt++) {
    const caps = active.map((i, j) => {
      const s = slots[i];
      if (s === undefined) return 0;
      if (j < active.length - 1) return s.capLayers;
      return Math.min(
        s.capLayers,
        layersThatFit(s.budgetBytes, s.extraBytes + tailExtra, input.layerBytes),
      );
    });
    const split = proportionalSplit(
      input.layerCount,
      active.map((i) => slots[i]?.speed ?? 0),
      caps,
    );
    if (split === null) return null;
    const last = split.length - 1;
    if ((split[last] ?? 0) > 0 || last < 0) {
      const out = new Array<number>(slots.length).fill(0);
      active.forEach((i, j) => (out[i] = split[j] ?? 0));
      return out;
    }
    // The designated tail got nothing (more peers than layers): plan again without the empty slots.
    active = active.filter((_, j) => (split[j] ?? 0) > 0);
  }
  return null;
}

/**
 * Computes ordered stages with contiguous layer ranges covering [0, layerCount). Throws MeshError
 * ERR_PLAN_IMPOSSIBLE when there are no peers or their budgets cannot hold the model.
 */
export function computePlan(input: PlanInput): PlanOutput {
  const sizes = input.layerSizes;
  if (sizes === undefined) return planWithCaps(input, new Map());
  if (sizes.length !== input.layerCount || sizes.some((b) => !(b >= 0))) {
    throw new MeshError("ERR_INTERNAL", `layerSizes must give ${input.layerCount} byte counts`);
  }
  // Plan with the smallest layer's size (so no cap is too low), then lower the layer cap of every stage
  // whose real range overflows its budget and plan again; each round lowers at least one cap, so this ends.
  const optimistic = { ...input, layerBytes: Math.min(...sizes) };
  const caps = new Map<string, number>();
  for (let round = 0; ; round++) {
    const out = planWithCaps(optimistic, caps);
    const over = overflowing(input, out.stages, sizes);
    if (over.length === 0) return out;
    if (round > input.layerCount * (input.peers.length + 1)) {
      throw new MeshError("ERR_INTERNAL", "the plan did not settle");
    }
    for (const s of over) caps.set(s.peerId, s.layerEnd - s.layerStart - 1);
  }
}

/** Stages whose layers (real sizes) plus their extras exceed their peer's budget. */
function overflowing(
  input: PlanInput,
  stages: readonly PlanStage[],
  sizes: readonly number[],
): PlanStage[] {
  const budget = new Map<string, number>();
  for (const p of input.peers) budget.set(p.peerId, p.memoryBudgetBytes);
  const head = input.head ?? null;
  if (head !== null) budget.set(head.peerId, head.memoryBudgetBytes);
  const withLayers = stages.filter((s) => s.layerEnd > s.layerStart);
  const tail = withLayers[withLayers.length - 1];
  return withLayers.filter((s) => {
    let bytes = 0;
    for (let l = s.layerStart; l < s.layerEnd; l++) bytes += sizes[l] ?? 0;
    if (head !== null && s.peerId === head.peerId) bytes += input.headExtraBytes ?? 0;
    if (s === tail) bytes += input.tailExtraBytes ?? 0;
    return bytes > (budget.get(s.peerId) ?? 0);
  });
}

/** computePlan with per-peer caps on the number of layers (from overflow rounds). */
function planWithCaps(input: PlanInput, capOf: ReadonlyMap<string, number>): PlanOutput {
  const { layerCount, layerBytes } = input;
  if (!Number.isInteger(layerCount) || layerCount < 1)
    throw impossible("the model has no layers", { layerCount });
  const tailExtra = input.tailExtraBytes ?? 0;
  const headExtra = input.headExtraBytes ?? 0;
  const head = input.head ?? null;
  if (head !== null && input.peers.some((p) => p.peerId === head.peerId)) {
    throw new MeshError("ERR_INTERNAL", "the head must not be listed among the stage peers");
  }
  const candidates: Slot[] = input.peers.map((p) => ({
    peerId: p.peerId,
    speed: p.speed,
    capLayers:
      p.speed > 0
        ? Math.min(
            layersThatFit(p.memoryBudgetBytes, 0, layerBytes),
            capOf.get(p.peerId) ?? Number.MAX_SAFE_INTEGER,
          )
        : 0,
    budgetBytes: p.memoryBudgetBytes,
    extraBytes: 0,
  }));

  let counts = candidates.length > 0 ? assign(input, candidates, tailExtra) : null;
  let headLayers = 0;
  if (counts === null && head !== null) {
    // Fall back to giving the head the first layers (it is stage 0, so its range starts at layer 0).
    const headSlot: Slot = {
      peerId: head.peerId,
      speed: head.speed > 0 ? head.speed : 1,
      capLayers: Math.min(
        layersThatFit(head.memoryBudgetBytes, headExtra, layerBytes),
        capOf.get(head.peerId) ?? Number.MAX_SAFE_INTEGER,
      ),
      budgetBytes: head.memoryBudgetBytes,
      extraBytes: headExtra,
    };
    const withHead = assign(input, [headSlot, ...candidates], tailExtra);
    if (withHead !== null) {
      headLayers = withHead[0] ?? 0;
      counts = withHead.slice(1);
    }
  }
  if (counts === null) {
    const usable = candidates.filter((c) => c.capLayers > 0).length;
    throw impossible(
      candidates.length === 0 && head === null
        ? "no peers to hold the model"
        : `the peers' memory budgets cannot hold ${layerCount} layers of ${layerBytes} bytes`,
      { layerCount, layerBytes, peers: candidates.length, usablePeers: usable },
    );
  }
  const stages: PlanStage[] = [];
  const idle: string[] = [];
  let next = 0;
  if (head !== null) {
    stages.push({ peerId: head.peerId, layerStart: 0, layerEnd: headLayers });
    next = headLayers;
  }
  candidates.forEach((c, i) => {
    const n = counts[i] ?? 0;
    if (n === 0) {
      idle.push(c.peerId);
      return;
    }
    stages.push({ peerId: c.peerId, layerStart: next, layerEnd: next + n });
    next += n;
  });
  if (next !== layerCount)
    throw new MeshError("ERR_INTERNAL", `plan covers ${next} of ${layerCount} layers`);
  return { stages, idle };
}

/** The range assigned to `peerId`, or null. */
export function rangeOf(stages: readonly PlanStage[], peerId: string): LayerRange | null {
  const s = stages.find((x) => x.peerId === peerId);
  return s === undefined ? null : { layerStart: s.layerStart, layerEnd: s.layerEnd };
}
