import type { EpochRow, RunSummary } from "./api-types.ts";
import { summarizeEpochs } from "../../shared/run-summary.ts";

export { applyEpoch } from "../../shared/run-summary.ts";

/**
 * The seed's table columns from a run's epochs (shared/run-summary.ts; epochs in any order, a replay
 * counts once). The test-set figures do not come from epochs: they are taken from `kept` (the run's
 * summary as the API sent it), null without it.
 *
 * @example
 * ```ts
 * summarizeMetrics([{ epoch: 1, loss: 1, acc: 0.5, valLoss: 1.1, valAcc: 0.93 }], 0.92).thresholdEpoch; // 1
 * ```
 */
export function summarizeMetrics(
  metrics: readonly EpochRow[],
  threshold: number,
  kept?: Pick<RunSummary, "bestTestAcc" | "bestTestLoss" | "finalTestAcc" | "finalTestLoss">,
): RunSummary {
  return {
    ...summarizeEpochs(metrics, threshold),
    bestTestAcc: kept?.bestTestAcc ?? null,
    bestTestLoss: kept?.bestTestLoss ?? null,
    finalTestAcc: kept?.finalTestAcc ?? null,
    finalTestLoss: kept?.finalTestLoss ?? null,
  };
}

/** Inserts or replaces an epoch row, keeping the list sorted by epoch (replays are idempotent). */
export function upsertEpoch<T extends EpochRow>(metrics: T[], row: T): T[] {
  const i = metrics.findIndex((m) => m.epoch >= row.epoch);
  if (i === -1) metrics.push(row);
  else if (metrics[i]!.epoch === row.epoch) metrics[i] = row;
  else metrics.splice(i, 0, row);
  return metrics;
}
