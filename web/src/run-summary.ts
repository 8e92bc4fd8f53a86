import type { EpochRow, RunSummary } from "./api-types.ts";

/**
 * The seed's table columns from a run's epochs: the first epoch whose val_acc reaches the threshold
 * (with val_acc and acc there), the best val_acc and its first epoch, and the last epoch's losses.
 * Epochs may arrive out of order or twice (replay after a reconnect); the row of the highest epoch
 * number counts as final. The test-set figures do not come from epochs: they are taken from `kept`
 * (the run's summary as the API sent it), null without it.
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
  const rows = [...metrics].sort((a, b) => a.epoch - b.epoch);
  let passed: EpochRow | null = null;
  let best: EpochRow | null = null;
  for (const m of rows) {
    if (passed === null && m.valAcc >= threshold) passed = m;
    if (best === null || m.valAcc > best.valAcc) best = m;
  }
  const last = rows[rows.length - 1] ?? null;
  return {
    thresholdEpoch: passed?.epoch ?? null,
    accVal: passed?.valAcc ?? null,
    acc: passed?.acc ?? null,
    bestEpoch: best?.epoch ?? null,
    bestValAcc: best?.valAcc ?? null,
    finalLoss: last?.loss ?? null,
    finalValLoss: last?.valLoss ?? null,
    epochsDone: last?.epoch ?? 0,
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

/**
 * The summary after one more epoch, without the other epochs: the threshold epoch is the smallest
 * passing one, the best is the highest val_acc (the earlier epoch on a tie), the final row the highest
 * epoch. The list view keeps only summaries, so a live epoch message updates its row with this.
 */
export function applyEpoch(summary: RunSummary, m: EpochRow, threshold: number): RunSummary {
  const next = { ...summary };
  if (m.valAcc >= threshold && (next.thresholdEpoch === null || m.epoch < next.thresholdEpoch)) {
    next.thresholdEpoch = m.epoch;
    next.accVal = m.valAcc;
    next.acc = m.acc;
  }
  if (next.bestValAcc === null || m.valAcc > next.bestValAcc || (m.valAcc === next.bestValAcc && m.epoch < (next.bestEpoch ?? Infinity))) {
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
