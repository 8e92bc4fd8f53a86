/**
 * The seed's per-run figures from a run's epochs, in one place: the worker's CLI table, the dashboard
 * (whole runs and live epochs) and, column for column, the `run_summary` SQL view that the API's
 * report and `/v1/sql` read (test/run-summary-view.test.ts checks the view against this module).
 *
 * - threshold epoch: the first epoch whose val_acc reaches the run's threshold, with val_acc and acc there;
 * - best: the highest val_acc, the earlier epoch on a tie;
 * - final: the highest epoch's losses.
 *
 * @example
 * ```ts
 * summarizeEpochs([{ epoch: 1, loss: 1, acc: 0.5, valLoss: 1.1, valAcc: 0.93 }], 0.92).thresholdEpoch; // 1
 * ```
 */

/** What the summary reads of an epoch. */
export interface SummaryEpoch {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
}

/** The summary's figures; named as the API's `summary` and, in snake_case, the view's columns. */
export interface SeedSummary {
  thresholdEpoch: number | null;
  /** val_acc and acc at the threshold epoch. */
  accVal: number | null;
  acc: number | null;
  bestEpoch: number | null;
  bestValAcc: number | null;
  finalLoss: number | null;
  finalValLoss: number | null;
  /** The highest epoch recorded (null for none, as in the view). */
  epochsDone: number | null;
}

export const EMPTY_SUMMARY: Readonly<SeedSummary> = Object.freeze({
  thresholdEpoch: null,
  accVal: null,
  acc: null,
  bestEpoch: null,
  bestValAcc: null,
  finalLoss: null,
  finalValLoss: null,
  epochsDone: null,
});

/** The summary of all of `epochs`, in any order (a replayed epoch counts once: the same row again). */
export function summarizeEpochs(epochs: readonly SummaryEpoch[], threshold: number): SeedSummary {
  return epochs.reduce((s: SeedSummary, m) => applyEpoch(s, m, threshold), { ...EMPTY_SUMMARY });
}

/**
 * The summary after one more epoch, without the others: what a live view that keeps only summaries
 * does with each epoch message; folding it over the epochs in any order gives {@link summarizeEpochs}.
 */
export function applyEpoch<S extends SeedSummary>(summary: S, m: SummaryEpoch, threshold: number): S {
  const next = { ...summary };
  if (m.valAcc >= threshold && (next.thresholdEpoch === null || m.epoch < next.thresholdEpoch)) {
    next.thresholdEpoch = m.epoch;
    next.accVal = m.valAcc;
    next.acc = m.acc;
  }
  if (
    next.bestValAcc === null || m.valAcc > next.bestValAcc ||
    (m.valAcc === next.bestValAcc && m.epoch < (next.bestEpoch ?? Infinity))
  ) {
    next.bestValAcc = m.valAcc;
    next.bestEpoch = m.epoch;
  }
  if (m.epoch >= (next.epochsDone ?? 0)) {
    next.epochsDone = m.epoch;
    next.finalLoss = m.loss;
    next.finalValLoss = m.valLoss;
  }
  return next;
}
