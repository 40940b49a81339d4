// For tests and benchmarks that kill or stop stage processes: the `pipemesh join` children of a process
// (the stages `generate --peers N` starts; Linux `pgrep`) and seeded draws of which one and when.

import { execFileSync } from "node:child_process";

/** The live `pipemesh join` children of `pid`, oldest (lowest pid) first; [] when there are none. */
export function joinChildren(pid: number): number[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-P", String(pid), "-f", "join"], { encoding: "utf8" });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map(Number)
    .sort((a, b) => a - b);
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1): reproducible fault plans. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
