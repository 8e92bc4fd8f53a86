/**
 * What a run reports: one row per epoch as Keras prints it. The seed's per-run summary of them is
 * shared/run-summary.ts (`summarizeEpochs`), the same for the worker, the API and the dashboard.
 */

/** One epoch, numbered from 1 as Keras prints it. */
export interface EpochMetrics {
  epoch: number;
  /** Mean over the epoch's training batches, weighted by batch size (Keras's running mean at the end). */
  loss: number;
  acc: number;
  /** On the validation set, inference mode. Loss includes the l2 penalty, as Keras's does. */
  valLoss: number;
  valAcc: number;
  /** The schedule's values at the epoch's end (iteration epoch·stepsPerEpoch), as Keras's optimizer reports them. */
  lr: number;
  /** The per-step decay factor at the same point (lr·λ, or the WD schedule's value). */
  wd: number;
  /** Wall seconds of the epoch including validation, and training images per training second. */
  seconds: number;
  imagesPerSecond: number;
  /** Iterations (updates) done at the end of the epoch. */
  iterations: number;
}
