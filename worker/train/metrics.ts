/**
 * What a run reports: one row per epoch as Keras prints it. The seed's per-run summary of them is
 * shared/run-summary.ts (`summarizeEpochs`), the same for the worker, the API and the dashboard.
 */

import type { EpochMetrics as QueueEpochMetrics } from "../../shared/queue/queue-types.ts";

/**
 * One epoch, numbered from 1 as Keras prints it: the figures the queue records and the streams send
 * (shared/epoch-metrics.ts, field for field), plus the iterations done, which a checkpoint keeps.
 */
export interface EpochMetrics extends QueueEpochMetrics {
  /** Iterations (updates) done at the end of the epoch. */
  iterations: number;
}

/**
 * A checkpoint's history as stored: those written before the names were unified call the training
 * rate `imagesPerSecond`.
 */
export function decodeEpochHistory(history: readonly (EpochMetrics | (Omit<EpochMetrics, "imagesPerSec"> & { imagesPerSecond: number }))[]): EpochMetrics[] {
  return history.map((m) => {
    if (!("imagesPerSecond" in m)) return m;
    const { imagesPerSecond, ...rest } = m;
    return { ...rest, imagesPerSec: imagesPerSecond };
  });
}
