// allClose for GPU parity: |a - e| <= atol + rtol * |e| elementwise, reporting the max abs diff and the
// first mismatches side by side (llm.c check_tensor style); and bitwise equality for invariance checks.

export interface CloseReport {
  ok: boolean;
  maxAbsDiff: number;
  mismatches: number;
  /** Up to five "i: actual vs expected" lines. */
  first: string[];
}

export function allClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol: number } = { atol: 1e-5, rtol: 1e-5 },
): CloseReport {
  let maxAbsDiff = 0;
  let mismatches = 0;
  const first: string[] = [];
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbsDiff: Infinity,
      mismatches: 1,
      first: [`length ${actual.length} vs ${expected.length}`],
    };
  }
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    const d = Math.abs(a - e);
    if (!(d <= tol.atol + tol.rtol * Math.abs(e))) {
      mismatches++;
      if (first.length < 5) first.push(`${i}: ${a} vs ${e}`);
    }
    if (d > maxAbsDiff || Number.isNaN(d)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  return { ok: mismatches === 0, maxAbsDiff, mismatches, first };
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
