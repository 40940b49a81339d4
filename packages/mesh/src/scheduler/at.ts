// at(): indexed access that fails loudly (ERR_INTERNAL) instead of yielding undefined; for the scheduler's
// own tables, where a missing entry is a bug, not an input error.

import { MeshError } from "../errors.ts";

export function at<T>(items: readonly T[], index: number): T {
  const v = items[index];
  if (v === undefined) throw new MeshError("ERR_INTERNAL", `scheduler table has no entry ${index}`);
  return v;
}
