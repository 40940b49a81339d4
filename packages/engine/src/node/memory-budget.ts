// The default memory budget of a Node peer: defaultMemoryBudgetBytes with the machine's memory (os total
// and free) and no per-tab caps, since the whole machine serves the mesh. Node-only.

import { freemem, totalmem } from "node:os";
import { defaultMemoryBudgetBytes, type ComputeProbe } from "../gpu/probe-compute.ts";

/** Budget for weights + KV cache on this machine: min(total / 2, 3/4 of free), and the GPU's bound. */
export function defaultNodeMemoryBudgetBytes(
  probe: ComputeProbe,
  memory: { totalBytes: number; freeBytes: number } = {
    totalBytes: totalmem(),
    freeBytes: freemem(),
  },
): number {
  return defaultMemoryBudgetBytes(probe, { ...memory, dedicated: true });
}
