// Dawn devices for Node parity tests, with the REQUIRE_WEBGPU rule: when no adapter of the asked kind
// exists the test skips with the reason, unless REQUIRE_WEBGPU=1 (CI), where it fails. Test-only.

import type { GpuContext } from "../../src/gpu/device.ts";
import { requestDawnGpu, type DawnAdapterChoice } from "../../src/node/dawn.ts";

export const REQUIRE_WEBGPU = process.env["REQUIRE_WEBGPU"] === "1";

export interface NodeGpu {
  ctx: GpuContext | null;
  /** Why ctx is null (the skip reason). */
  reason: string;
}

/** Opens a Dawn device of the given kind; null (with a reason) if none exists and REQUIRE_WEBGPU is off. */
export async function openNodeGpu(adapter: DawnAdapterChoice): Promise<NodeGpu> {
  try {
    const ctx = await requestDawnGpu({ adapter, warn: () => undefined });
    return { ctx, reason: "" };
  } catch (e) {
    if (REQUIRE_WEBGPU) throw e;
    return { ctx: null, reason: `no WebGPU adapter (${adapter}): ${(e as Error).message}` };
  }
}
