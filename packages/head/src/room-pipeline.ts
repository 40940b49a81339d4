// A room session as the pipeline a head runs on, with recovery: when the pipeline fails mid-generation,
// recover() asks the room node for a replacement session (the failed stage reported and planned out,
// survivors keeping their ranges) while holding the generation slot, and the object's pipeline and plan
// then describe the replacement. Shared by every head that generates in a room (the CLI's generate --room
// and --peers N, `pipemesh serve`'s API, a chat tab, @pipemesh/head/browser's connect).

import type { HeadNode, HeadSession, MeshError, PipelinePlan, PipelinePort } from "@pipemesh/mesh";
import type { OpenedPipeline, PlanEntry } from "./open-head.ts";

export interface RoomPipelineOptions {
  /** The plan as the head reports it (default: the plan's stages with layers, sizes unknown). */
  planOf?: ((session: HeadSession) => PlanEntry[]) | undefined;
  /** Bound on a replacement: the room's re-plan, the stages' loads and the connections (default 10 min). */
  recoverTimeoutMs?: number | undefined;
  /** Called with every replacement session and what it replaced (logs, children to restart). */
  onRecovered?: ((session: HeadSession, error: MeshError) => void) | undefined;
  /** Called before a recovery is attempted (e.g. to name the failure in a log). */
  onFailure?: ((error: MeshError) => void) | undefined;
  /** The port the head drives for a session (default: its pipeline; e.g. a recording wrapper). */
  wrap?: ((session: HeadSession) => PipelinePort) | undefined;
  /** Ends the session for good (default: release it). */
  release?: ((session: HeadSession) => void) | undefined;
  /** Called once by destroy(), after the session (if any is left) is released. */
  onDestroy?: (() => void | Promise<void>) | undefined;
}

/** The stages of a plan that hold layers, as a head reports them (weights and KV sizes unknown). */
export function planEntries(plan: PipelinePlan): PlanEntry[] {
  return plan.stages
    .filter((st) => st.layerEnd > st.layerStart)
    .map((st) => ({
      peerId: st.peerId,
      layerStart: st.layerStart,
      layerEnd: st.layerEnd,
      weightBytes: null,
      kvBytes: null,
    }));
}

export function roomPipeline(
  node: HeadNode,
  first: HeadSession,
  o: RoomPipelineOptions = {},
): OpenedPipeline {
  let session: HeadSession | null = first;
  const planOf = o.planOf ?? ((s: HeadSession) => planEntries(s.plan));
  const wrap = o.wrap ?? ((s: HeadSession) => s.pipeline);
  let plan = planOf(first);
  let port = wrap(first);
  return {
    get pipeline(): PipelinePort {
      return port;
    },
    get plan(): PlanEntry[] {
      return plan;
    },
    destroy: async () => {
      const s = session;
      session = null;
      if (s !== null) (o.release ?? ((x: HeadSession) => x.release()))(s);
      const done = o.onDestroy;
      o.onDestroy = undefined;
      await done?.();
    },
    recover: async (error, signal) => {
      const failed = session;
      if (failed === null) return null;
      o.onFailure?.(error);
      const next = await node.recover(failed, error, {
        signal,
        timeoutMs: o.recoverTimeoutMs ?? 10 * 60_000,
      });
      if (next === null) {
        session = null;
        return null;
      }
      session = next;
      plan = planOf(next);
      port = wrap(next);
      o.onRecovered?.(next, error);
      return { pipeline: port, plan };
    },
  };
}
