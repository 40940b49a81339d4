// Where each run's work sits on the timeline: per stage, a box from the moment its compute started to the
// moment it ended, in the head's clock. Stages report only durations (their clocks differ), so boxes are
// placed by walking forward from the launch: hop, wait at the stage, compute, with the one unknown (the
// per-hop network time) spread evenly so the last hop lands at the outcome's arrival. Pure functions.

import type { RunRecord } from "./run-log.ts";

export type BoxKind = "prefill" | "canonical" | "speculative" | "cancelled";

export interface StageBox {
  runId: number;
  stage: number;
  startMs: number;
  endMs: number;
  kind: BoxKind;
}

/** The box colour class of a run: cancelled (or skipped) speculative runs stand apart. */
export function boxKind(r: RunRecord): BoxKind {
  if (r.cancelledMs !== null || r.outcome?.status === "skipped") return "cancelled";
  return r.kind;
}

/** The run's compute boxes per stage; none until its outcome (with stage times) has arrived. */
export function runBoxes(r: RunRecord): StageBox[] {
  const times = r.outcome?.stageTimesMs;
  if (r.outcome === null || times === undefined || times.length < 2) return [];
  const stages = Math.floor(times.length / 2);
  let sum = 0;
  for (const t of times) sum += t;
  // `stages` hops: head -> stage 1 -> ... -> tail -> head (the head's own shard is stage 0).
  const hopMs = stages > 1 ? Math.max(0, (r.outcome.atMs - r.launchMs - sum) / stages) : 0;
  const kind = boxKind(r);
  const boxes: StageBox[] = [];
  let t = r.launchMs;
  for (let i = 0; i < stages; i++) {
    if (i > 0) t += hopMs;
    t += times[2 * i] ?? 0;
    const computeMs = times[2 * i + 1] ?? 0;
    if (computeMs > 0)
      boxes.push({ runId: r.runId, stage: i, startMs: t, endMs: t + computeMs, kind });
    t += computeMs;
  }
  return boxes;
}

/** Fraction of [fromMs, toMs) that `stage` spent computing (overlapping boxes counted once). */
export function busyFraction(
  boxes: readonly StageBox[],
  stage: number,
  fromMs: number,
  toMs: number,
): number {
  if (toMs <= fromMs) return 0;
  const spans = boxes
    .filter((b) => b.stage === stage && b.endMs > fromMs && b.startMs < toMs)
    .map((b) => [Math.max(fromMs, b.startMs), Math.min(toMs, b.endMs)] as const)
    .sort((a, b) => a[0] - b[0]);
  let busy = 0;
  let end = fromMs;
  for (const [s, e] of spans) {
    const from = Math.max(s, end);
    if (e > from) busy += e - from;
    end = Math.max(end, e);
  }
  return busy / (toMs - fromMs);
}
