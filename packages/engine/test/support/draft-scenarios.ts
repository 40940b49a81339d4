// The draft workloads bench:draft times on any DraftModel (in Node, or in a browser worker through the
// drafter harness): a prompt prefill, a greedy chain (one new token per call, accepting every 4th, the
// scheduler's narrow draft), 3-branch trees 4 levels deep (one call of 3 new tokens per level), a wide
// batch of 8 siblings, and cache hits. Returns tokens (or contexts) per second; asserts nothing.
// measureDraftScenarios warms up first, for a fixed time (V8 runs wasm on its baseline compiler until the
// optimizing tier has compiled it in the background: onnxruntime's per-run time falls ~5x over the first
// 5-8 s on this machine), then keeps each scenario's best of several passes (the machine is shared; the
// best pass is the least disturbed one).

import type { DraftModel } from "../../src/draft/draft-model.ts";

export interface DraftScenarioOptions {
  promptLength: number;
  /** Chain tokens; trees draft about as many. */
  tokens: number;
  topK?: number | undefined;
}

export type DraftRates = Record<string, number>;

export interface MeasureOptions extends DraftScenarioOptions {
  /** Measured passes; each scenario reports its best (default 3). */
  passes?: number | undefined;
  /** Short passes run for at least this long before measuring (default 10 s). */
  warmupMs?: number | undefined;
}

export async function measureDraftScenarios(
  d: DraftModel,
  options: MeasureOptions,
): Promise<DraftRates> {
  const warm = { ...options, promptLength: Math.min(32, options.promptLength), tokens: 8 };
  const until = performance.now() + (options.warmupMs ?? 10_000);
  do await runDraftScenarios(d, warm);
  while (performance.now() < until);
  const best: DraftRates = {};
  for (let pass = 0; pass < (options.passes ?? 3); pass++) {
    const rates = await runDraftScenarios(d, options);
    for (const [k, v] of Object.entries(rates)) best[k] = Math.max(best[k] ?? 0, v);
  }
  return best;
}

/** A fixed pseudo-random prompt (the bench measures compute, not text). */
export function benchPrompt(length: number, vocab: number): number[] {
  let s = 12345;
  return Array.from({ length }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % vocab;
  });
}

export async function runDraftScenarios(
  d: DraftModel,
  options: DraftScenarioOptions,
): Promise<DraftRates> {
  const topK = options.topK ?? 8;
  const results: DraftRates = {};
  const rate = async (name: string, f: () => Promise<number>): Promise<void> => {
    const t0 = performance.now();
    const count = await f();
    results[name] = count / ((performance.now() - t0) / 1000);
  };
  const prompt = benchPrompt(options.promptLength, d.vocabSize);
  await d.reset();
  await rate("prefill tokens/s", async () => {
    await d.accept(Int32Array.from(prompt));
    await d.predict([Int32Array.from(prompt)], { topK });
    return prompt.length;
  });

  const ctx = [...prompt];
  const steps: number[] = [];
  await rate("chain draft tokens/s", async () => {
    for (let i = 0; i < options.tokens; i++) {
      const t0 = performance.now();
      const [p] = await d.predict([Int32Array.from(ctx)], { topK });
      steps.push(performance.now() - t0);
      ctx.push(p?.topIds[0] ?? 0);
      if (i % 4 === 3) await d.accept(Int32Array.from(ctx));
    }
    return options.tokens;
  });
  // The median step is what an undisturbed chain would reach (stalls of a shared machine land in the tail).
  steps.sort((a, b) => a - b);
  results["chain tokens/s at the median step"] = 1000 / (steps[steps.length >> 1] ?? Infinity);

  let lastTree: Int32Array[] = [];
  await rate("tree draft tokens/s", async () => {
    let drafted = 0;
    for (let t = 0; t < Math.max(1, Math.floor(options.tokens / 12)); t++) {
      const branches: number[][] = [[0], [1], [2]];
      lastTree = [];
      for (let level = 0; level < 4; level++) {
        const contexts = branches.map((b) => Int32Array.from([...ctx, ...b]));
        const preds = await d.predict(contexts, { topK });
        preds.forEach((p, i) => branches[i]?.push(p.topIds[0] ?? 0));
        drafted += contexts.length;
        lastTree.push(...contexts);
      }
      ctx.push(...(branches[0] ?? []).slice(0, 2));
      await d.accept(Int32Array.from(ctx));
    }
    return drafted;
  });

  await rate("wide batch (8) tokens/s", async () => {
    const wide = Array.from({ length: 8 }, (_, i) => Int32Array.from([...ctx, 100 + i]));
    await d.predict(wide, { topK });
    return wide.length;
  });

  await rate("cache hits contexts/s", async () => {
    const kept = lastTree.filter((c) => c.length > ctx.length && ctx.every((t, i) => c[i] === t));
    for (let r = 0; r < 20; r++) await d.predict(kept, { topK });
    return kept.length * 20;
  });
  return results;
}
