// fast-check arbitraries for fuzzing the wire decoders: the golden fixtures (test/protocol/v2) as seeds,
// mutated at random paths (values replaced by anything, fields deleted, prototype keys added, sizes lied
// about), mixed with arbitrary JSON and arbitrary values. The seed is fixed unless FUZZ_SEED is set.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";

export const FUZZ_SEED = Number(process.env["FUZZ_SEED"] ?? 20261207);
/** Runs per property; FUZZ_RUNS overrides (e.g. more locally, fewer on a slow machine). */
export const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? 100_000);

const FIXTURES = join(import.meta.dirname, "..", "protocol", "v2");

export function fixtures(kind: "signal" | "peer"): Record<string, unknown>[] {
  const dir = join(FIXTURES, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>);
}

type Path = (string | number)[];

function paths(x: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(x)) x.forEach((v, i) => paths(v, [...at, i], out));
  else if (x !== null && typeof x === "object")
    for (const [k, v] of Object.entries(x)) paths(v, [...at, k], out);
  return out;
}

interface Mutation {
  pick: number;
  op: "replace" | "delete" | "proto" | "big" | "long";
  value: unknown;
}

function mutate(seed: unknown, mutations: Mutation[]): unknown {
  const root: unknown = structuredClone(seed);
  let out = root;
  for (const m of mutations) {
    const all = paths(out);
    const path = all[m.pick % all.length] ?? [];
    if (path.length === 0) {
      if (m.op === "replace") out = m.value;
      continue;
    }
    let parent = out as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = path[path.length - 1] as string | number;
    if (Object.isFrozen(parent)) continue;
    switch (m.op) {
      case "replace":
        parent[key] = m.value;
        break;
      case "delete":
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case "proto":
        Object.defineProperty(parent, "__proto__", {
          value: m.value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
        break;
      case "big":
        parent[key] = [2 ** 31, 2 ** 53, -1, 1e308, -0, 0.5, Infinity, NaN][Number(m.value) & 7];
        break;
      case "long":
        parent[key] = Array.isArray(parent[key])
          ? new Array(2000).fill((parent[key] as unknown[])[0] ?? 0)
          : "x".repeat(2000);
        break;
    }
  }
  return out;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom("replace", "delete", "proto", "big", "long"),
  value: fc.oneof(fc.anything({ maxDepth: 2 }), fc.integer(), fc.string()),
});

/** Mutated fixtures, arbitrary JSON and arbitrary values: what a hostile peer could send after JSON.parse. */
export function hostileValues(seeds: Record<string, unknown>[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 2 }))
        .map(([s, ms]) => mutate(s, ms)),
    },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  );
}
