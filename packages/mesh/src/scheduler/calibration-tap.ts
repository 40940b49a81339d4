// The loop's link to draft calibration (greedy only): a drafter view that logs every prediction by
// context, and the step that, once the target has spoken at a position, pairs it with the draft's logged
// prediction there and feeds the pair to the scheduler's DraftCalibration. It never changes what is drafted
// or accepted by itself; the calibrated confidence it exposes only steers the draft tree's cutoffs.

import type { Drafter } from "../ports.ts";
import { PredictionLog, type DraftCalibration } from "./calibration.ts";

export class CalibrationTap {
  /** The drafter to draft with (records its predictions). */
  readonly drafter: Drafter;
  readonly #calibration: DraftCalibration;
  readonly #log = new PredictionLog();

  /** null where calibration does not apply (no calibration, no drafter, or sampling). */
  static create(
    calibration: DraftCalibration | null,
    drafter: Drafter | null,
    greedy: boolean,
  ): CalibrationTap | null {
    return calibration === null || drafter === null || !greedy
      ? null
      : new CalibrationTap(drafter, calibration);
  }

  private constructor(inner: Drafter, calibration: DraftCalibration) {
    this.#calibration = calibration;
    const log = this.#log;
    this.drafter = {
      vocabSize: inner.vocabSize,
      async predict(contexts, options, signal) {
        const preds = await inner.predict(contexts, options, signal);
        preds.forEach((p, i) => {
          const ctx = contexts[i];
          if (ctx !== undefined) log.record(ctx, p);
        });
        return preds;
      },
      accept: (accepted) => inner.accept(accepted),
      reset: () => inner.reset(),
      destroy: () => inner.destroy(),
    };
  }

  /** Calibrated P(the target picks the rank-r candidate of draft probability p). */
  readonly confidence = (rank: number, prob: number): number =>
    this.#calibration.confidence(rank, prob);

  /** The target's `token` at position tokens.length, against the draft's prediction there. */
  observe(tokens: readonly number[], token: number): void {
    const n = tokens.length;
    const pred = this.#log.take(tokens, n);
    if (pred !== undefined) this.#calibration.observePrediction(pred, token);
    this.#log.prune(n);
  }
}
