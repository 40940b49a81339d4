// Measured draft profiles for the "profile" toy drafter: per verified position of a real model pair, the
// rank of the target's token among the draft's candidates and the draft's top-4 probabilities (fixtures/
// draft-profile-*.json, each with its provenance). They let the simulated bench reproduce a real draft's
// hit rates and miscalibration (the embedded pair's draft is under-confident). Data only.

import { readFileSync } from "node:fs";

export interface DraftProfile {
  name: string;
  /** [rank of the target's token (0..3, 4 = lower or absent), p1, p2, p3, p4] per position. */
  records: readonly (readonly [number, number, number, number, number])[];
}

function load(name: string, file: string): DraftProfile {
  const json = JSON.parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), "utf8")) as {
    records: [number, number, number, number, number][];
  };
  return { name, records: json.records };
}

let cache: Record<"tiny" | "tiny-weak", DraftProfile> | null = null;

/** The embedded pair public/models/pipemesh-tiny: its distilled draft and its weak draft. */
export function draftProfiles(): Record<"tiny" | "tiny-weak", DraftProfile> {
  cache ??= {
    tiny: load("tiny", "draft-profile-tiny.json"),
    "tiny-weak": load("tiny-weak", "draft-profile-tiny-weak.json"),
  };
  return cache;
}

/** Fraction of positions where the target's token is among the draft's top-k (k = 1..4). */
export function profileHitRates(profile: DraftProfile): number[] {
  const n = profile.records.length;
  return [0, 1, 2, 3].map((k) => profile.records.filter((r) => r[0] <= k).length / n);
}
