// Modelled drafting cost for benchmarks (the `paper` scenario): every context the draft model has not
// predicted before costs `draftMs`, as if drafting ran on a slower device; predictions stay exact.

import type { Drafter } from "@pipemesh/mesh";

export function modelledDrafter(inner: Drafter, draftMs: number): Drafter {
  if (draftMs <= 0) return inner;
  const seen = new Set<string>();
  return {
    vocabSize: inner.vocabSize,
    async predict(contexts, options, signal) {
      const out = await inner.predict(contexts, options, signal);
      let fresh = 0;
      for (const c of contexts) {
        const key = c.join(",");
        if (!seen.has(key)) {
          seen.add(key);
          fresh++;
        }
      }
      if (fresh > 0) await new Promise((r) => setTimeout(r, fresh * draftMs));
      return out;
    },
    accept: (accepted) => inner.accept(accepted),
    reset: () => {
      seen.clear();
      return inner.reset();
    },
    destroy: () => inner.destroy(),
  };
}
