/**
 * What a run reports: one row per epoch as Keras prints it, and the seed's per-run summary row.
 *
 * @example
 * const s = summarizeRun(history, 0.92);
 * s.thresholdEpoch; // first epoch with val_acc ≥ 0.92, or null
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

/** The seed's table columns for one run. */
export interface RunSummary {
  epochs: number;
  threshold: number;
  /** First epoch with val_acc ≥ threshold, with val_acc and acc there; null when never reached. */
  thresholdEpoch: number | null;
  accValAtThreshold: number | null;
  accAtThreshold: number | null;
  bestEpoch: number | null;
  bestValAcc: number | null;
  finalLoss: number | null;
  finalValLoss: number | null;
}

export function summarizeRun(history: readonly EpochMetrics[], threshold: number): RunSummary {
  const hit = history.find((m) => m.valAcc >= threshold) ?? null;
  let best: EpochMetrics | null = null;
  // The first epoch wins a tie, as "best so far" does while the run is going.
  for (const m of history) if (best === null || m.valAcc > best.valAcc) best = m;
  const last = history[history.length - 1] ?? null;
  return {
    epochs: history.length,
    threshold,
    thresholdEpoch: hit?.epoch ?? null,
    accValAtThreshold: hit?.valAcc ?? null,
    accAtThreshold: hit?.acc ?? null,
    bestEpoch: best?.epoch ?? null,
    bestValAcc: best?.valAcc ?? null,
    finalLoss: last?.loss ?? null,
    finalValLoss: last?.valLoss ?? null,
  };
}
