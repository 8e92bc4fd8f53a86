/**
 * The seed's per-run figures from a run's epochs, in one place: the worker's CLI table, the dashboard
 * (whole runs and live epochs) and, column for column, the `run_summary` SQL view that the API's
 * report and `/v1/sql` read (test/migrations.test.ts checks the view against this module).
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

/** One figure of the summary: its column in the `run_summary` view, its type, and what it means. */
export interface SummaryFigureSpec {
  column: string;
  int: boolean;
  /** Computed from the run's epochs by {@link summarizeEpochs} (else the view reads it from elsewhere). */
  fromEpochs: boolean;
  doc: string;
}

/**
 * The summary's figures, each declared once: the API's `RunSummary` schema, the drizzle view the API
 * reads (api/db/run-summary-view.ts) and the runs repo's selection are derived from this list, and the
 * figures computed from epochs are checked against the SQL view by test/migrations.test.ts. A new
 * figure is an entry here (and its rule in {@link applyEpoch} when it comes from epochs) plus the
 * migration that redefines the view.
 */
export const SUMMARY_FIGURES = {
  thresholdEpoch: {
    column: "threshold_epoch",
    int: true,
    fromEpochs: true,
    doc: "first epoch whose val_acc reached the run's threshold (the seed's \"epoch\" column)",
  },
  accVal: { column: "acc_val", int: false, fromEpochs: true, doc: "val_acc at the threshold epoch (the seed's \"acc_val\")" },
  acc: { column: "acc", int: false, fromEpochs: true, doc: "acc at the threshold epoch (the seed's \"acc\")" },
  bestEpoch: { column: "best_epoch", int: true, fromEpochs: true, doc: "the epoch of the highest val_acc (the earlier on a tie)" },
  bestValAcc: { column: "best_val_acc", int: false, fromEpochs: true, doc: "the highest val_acc" },
  finalLoss: { column: "final_loss", int: false, fromEpochs: true, doc: "loss of the highest epoch recorded" },
  finalValLoss: { column: "final_val_loss", int: false, fromEpochs: true, doc: "val_loss of the highest epoch recorded" },
  epochsDone: { column: "epochs_done", int: true, fromEpochs: true, doc: "the highest epoch recorded" },
  bestTestAcc: {
    column: "best_test_acc",
    int: false,
    fromEpochs: false,
    doc: "test-set accuracy of the best epoch's weights: set when a run that validated on a split of the training set succeeds",
  },
  bestTestLoss: { column: "best_test_loss", int: false, fromEpochs: false, doc: "test-set loss of the best epoch's weights" },
  finalTestAcc: { column: "final_test_acc", int: false, fromEpochs: false, doc: "test-set accuracy of the final weights" },
  finalTestLoss: { column: "final_test_loss", int: false, fromEpochs: false, doc: "test-set loss of the final weights" },
} as const satisfies Record<string, SummaryFigureSpec>;

export type SummaryFigure = keyof typeof SUMMARY_FIGURES;
/** The figures {@link summarizeEpochs} computes. */
export type EpochFigure = { [K in SummaryFigure]: (typeof SUMMARY_FIGURES)[K]["fromEpochs"] extends true ? K : never }[SummaryFigure];
export const SUMMARY_FIGURE_NAMES = Object.keys(SUMMARY_FIGURES) as SummaryFigure[];
export const EPOCH_FIGURE_NAMES = SUMMARY_FIGURE_NAMES.filter((k) => SUMMARY_FIGURES[k].fromEpochs) as EpochFigure[];

/** Every figure of a run, null until the run has what it needs: the API's `summary`. */
export type RunSummaryFigures = { [K in SummaryFigure]: number | null };

/** The figures computed from a run's epochs; named as the API's `summary` and, in snake_case, the view's columns. */
export type SeedSummary = { [K in EpochFigure]: number | null };

export const EMPTY_SUMMARY: Readonly<SeedSummary> = Object.freeze(
  Object.fromEntries(EPOCH_FIGURE_NAMES.map((k) => [k, null])) as SeedSummary,
);

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
