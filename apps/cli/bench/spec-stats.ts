// bench:spec statistics: end-to-end tokens/s of one generation (prompt in to last token out, prefill
// included), medians, paired ratios over prompts, and the share of tokens each governor arm delivered.

import type { GenerationMetrics } from "@pipemesh/mesh";

/**
 * End-to-end tokens/s: generated tokens / (request start to last token). Unlike the scheduler's
 * `tokensPerSecond` (first to last token), this counts the prefill, the drafter's prompt and the wait
 * for the first token, so a mode cannot look fast by moving work before its first token.
 */
export function e2eTokensPerSecond(m: GenerationMetrics): number {
  return m.elapsedMs > 0 ? (m.generatedTokens * 1000) / m.elapsedMs : 0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Median over prompts of a[i] / b[i]: each prompt is its own control (paired), so prompt difficulty cancels. */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return Number.NaN;
  return median(a.map((x, i) => x / b[i]!));
}

/** Fraction of generated tokens per governor arm over several generations (pooled by tokens). */
export function armFractions(ms: readonly GenerationMetrics[]): Record<string, number> {
  const counts: Record<string, number> = {};
  let total = 0;
  for (const m of ms) {
    for (const s of m.arms) {
      const n = s.toToken - s.fromToken;
      counts[s.arm] = (counts[s.arm] ?? 0) + n;
      total += n;
    }
  }
  const out: Record<string, number> = {};
  for (const [arm, n] of Object.entries(counts)) out[arm] = total === 0 ? 0 : n / total;
  return out;
}

/** "async 92 % / sync 8 %", largest share first. */
export function formatArms(fractions: Readonly<Record<string, number>>): string {
  const parts = Object.entries(fractions)
    .sort((a, b) => b[1] - a[1])
    .map(([arm, f]) => `${arm} ${Math.round(f * 100)} %`);
  return parts.length === 0 ? "-" : parts.join(" / ");
}
