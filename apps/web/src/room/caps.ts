// The capabilities a tab announces to the room: a contributor's (adapter, limits, memory budget, measured
// speed) and the chat head's (embeddings and draft model only: a zero budget, so the planner never gives
// it layers). Plain data for the signaling `caps`; no probing here (see pages/contribute.ts).

import type { ShardBackend } from "@pipemesh/engine";
import type { PeerCapabilities } from "@pipemesh/mesh";

export interface StageCapsInput {
  name: string;
  backend: ShardBackend;
  /** The adapter's one-line description ("cpu" on the CPU backend). */
  adapterDescription: string;
  limits: Record<string, number>;
  memoryBudgetBytes: number;
  gflops: number;
}

/** The protocol caps at most 256 limit keys and 512 characters of description. */
export function stageCaps(i: StageCapsInput): PeerCapabilities {
  const limits = Object.fromEntries(
    Object.entries(i.limits)
      .filter(([, v]) => Number.isFinite(v))
      .slice(0, 256),
  );
  return {
    platform: "browser",
    adapter: {
      description:
        `${i.backend === "cpu" ? "CPU backend" : "WebGPU"}: ${i.adapterDescription}`.slice(0, 512),
      limits,
    },
    memoryBudgetBytes: Math.max(0, Math.floor(i.memoryBudgetBytes)),
    matmulGflops: Math.max(0, i.gflops),
    models: [],
    name: i.name.slice(0, 128),
  };
}

/** The chat tab: embeddings and the draft model only (zero budget: the planner gives it no layers). */
export { headCaps } from "@pipemesh/head/browser";

/** A short random name for this tab ("tab-3f9a"), shown in peer lists. */
export function tabName(random: () => number = Math.random): string {
  return `tab-${Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, "0")}`;
}
