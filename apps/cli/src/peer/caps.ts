// The capabilities a Node peer announces when it joins a room: adapter description and limits, memory
// budget (user-set or a default from free memory), and a measured matmul speed the planner sizes ranges by.

import { freemem } from "node:os";
import type { PeerCapabilities } from "@pipemesh/mesh";
import { probeNodeCompute } from "./probe.ts";

export interface CapsOptions {
  backend: "webgpu" | "cpu";
  /** User-set budget for weights + KV cache, in MiB. */
  memoryBudgetMb: number | undefined;
  name: string | undefined;
  /** Skip the speed test and announce this (GFLOP/s). */
  matmulGflops?: number | undefined;
}

export async function nodeCaps(o: CapsOptions): Promise<PeerCapabilities> {
  const probe = await probeNodeCompute(o.backend, o.matmulGflops === undefined);
  const budget =
    o.memoryBudgetMb === undefined
      ? Math.min(probe.maxBytes, Math.floor(freemem() / 2))
      : Math.floor(o.memoryBudgetMb * 1024 * 1024);
  return {
    platform: "node",
    adapter: { description: probe.description, limits: probe.limits },
    memoryBudgetBytes: budget,
    matmulGflops: o.matmulGflops ?? probe.matmulGflops,
    models: [],
    ...(o.name === undefined ? {} : { name: o.name }),
  };
}
