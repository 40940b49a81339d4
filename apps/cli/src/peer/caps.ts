// The capabilities a Node peer announces when it joins a room: adapter description and limits, memory
// budget (user-set, or the engine's default for a dedicated machine), and a measured matmul speed the
// planner sizes ranges by (or a speed measured once for several local peers).

import { probeCompute } from "@pipemesh/engine";
import { defaultNodeMemoryBudgetBytes } from "@pipemesh/engine/node";
import type { PeerCapabilities } from "@pipemesh/mesh";

export interface CapsOptions {
  backend: "webgpu" | "cpu";
  /** User-set budget for weights + KV cache, in MiB. */
  memoryBudgetMb: number | undefined;
  name: string | undefined;
  /** Skip the speed test and announce this (GFLOP/s). */
  matmulGflops?: number | undefined;
}

export async function nodeCaps(o: CapsOptions): Promise<PeerCapabilities> {
  const probe = await probeCompute({
    backend: o.backend,
    // A known speed only needs the adapter's description and limits: keep the speed test short.
    budgetMs: o.matmulGflops === undefined ? 300 : 10,
  });
  const budget =
    o.memoryBudgetMb === undefined
      ? defaultNodeMemoryBudgetBytes(probe)
      : Math.floor(o.memoryBudgetMb * 1024 * 1024);
  return {
    platform: "node",
    adapter: probe.adapter,
    memoryBudgetBytes: budget,
    matmulGflops: o.matmulGflops ?? probe.matmulGflops,
    models: [],
    ...(o.name === undefined ? {} : { name: o.name }),
  };
}
