// Statistics helpers for distribution tests: Pearson's chi-square statistic and a conservative critical
// value (Wilson–Hilferty approximation). Test support only.

/** Pearson chi-square of observed counts against expected probabilities; bins with E < 5 are merged. */
export function chiSquare(
  observed: readonly number[],
  expectedProbs: readonly number[],
): { stat: number; dof: number } {
  const total = observed.reduce((a, b) => a + b, 0);
  let stat = 0;
  let bins = 0;
  let restO = 0;
  let restE = 0;
  expectedProbs.forEach((p, i) => {
    const e = p * total;
    const o = observed[i] ?? 0;
    if (e < 5) {
      restO += o;
      restE += e;
      return;
    }
    stat += (o - e) ** 2 / e;
    bins++;
  });
  if (restE > 0) {
    stat += (restO - restE) ** 2 / Math.max(restE, 1e-9);
    bins++;
  }
  return { stat, dof: Math.max(1, bins - 1) };
}

/** Upper critical value of chi-square with `dof` degrees of freedom at tail probability ~1e-4 (z = 3.72). */
export function chiSquareCritical(dof: number, z = 3.72): number {
  const k = dof;
  return k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
}
