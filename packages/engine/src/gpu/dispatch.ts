// Dispatch sizing shared by the kernel wrappers: a linear count of workgroups folded into a 2D grid when it
// exceeds maxComputeWorkgroupsPerDimension (kernels rebuild the linear id as wid.x + wid.y * nwg.x and skip
// ids past the end), with ERR_GPU_LIMIT when even the 2D grid cannot hold it.

import { EngineError } from "../errors.ts";

export type Grid = readonly [number, number];

export function workgroupGrid(workgroups: number, maxPerDim: number, what: string): Grid {
  if (!Number.isInteger(workgroups) || workgroups < 1) {
    throw new EngineError("ERR_KERNEL_SHAPE", `${what}: ${workgroups} workgroups`);
  }
  if (workgroups <= maxPerDim) return [workgroups, 1];
  const y = Math.ceil(workgroups / maxPerDim);
  if (y > maxPerDim) {
    throw new EngineError(
      "ERR_GPU_LIMIT",
      `${what} needs ${workgroups} workgroups, more than ${maxPerDim}^2 (maxComputeWorkgroupsPerDimension)`,
    );
  }
  return [Math.ceil(workgroups / y), y];
}

/** Encodes one dispatch of `pipeline` with `bindGroup` at group 0 over `grid`. */
export function dispatch(
  pass: GPUComputePassEncoder,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  grid: Grid,
): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(grid[0], grid[1]);
}
