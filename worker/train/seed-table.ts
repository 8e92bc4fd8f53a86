/**
 * Text rows in the style of the seed's tables (pipe-separated, fixed decimals), for `npm run train`:
 * one row per epoch while training and the run's summary table at the end (the seed's columns, written
 * by shared/seed-table.ts like the API's report). The CSV's columns are named as the API's metrics CSV.
 *
 * @example
 * console.log(EPOCH_HEADER); console.log(formatEpochRow(m));
 * console.log(formatSummaryTable("run 17", spec, summary));
 */
import type { SeedSummary } from "../../shared/run-summary.ts";
import { seedTableMarkdown } from "../../shared/seed-table.ts";
import type { EpochMetrics } from "./metrics.ts";
import type { TrainSpec } from "./train-spec.ts";
import { formatDuration } from "./progress-bar.ts";

export const EPOCH_HEADER = "epoch | loss | acc | val_loss | val_acc | lr | wd | time | img/s |";

export function formatEpochRow(m: EpochMetrics): string {
  return [
    String(m.epoch).padStart(5),
    m.loss.toFixed(4),
    m.acc.toFixed(4),
    m.valLoss.toFixed(4),
    m.valAcc.toFixed(5),
    sci(m.lr),
    sci(m.wd),
    formatDuration(m.seconds),
    m.imagesPerSec.toFixed(1),
  ].join(" | ") + " |";
}

/**
 * The run's summary as the seed's table (shared/seed-table.ts, the API's report uses the same): header,
 * separator and the run's line; `npm run train` has no test-set figures, so those cells are "–".
 */
export function formatSummaryTable(label: string, spec: TrainSpec, s: SeedSummary): string {
  const { epochsDone: _done, ...figures } = s;
  return seedTableMarkdown([{
    run: label,
    ...figures,
    bestTestAcc: null,
    finalTestAcc: null,
    shift: spec.data.shift,
    l2: spec.optimizer.l2,
    lambda: spec.optimizer.lambda,
    alpha: spec.optimizer.alpha,
    schedule: spec.schedule,
    wdSchedule: spec.wdSchedule ?? null,
  }]);
}

/** The CSV `--out` writes: a header and one line per epoch. */
export const CSV_HEADER = "epoch,loss,acc,val_loss,val_acc,lr,wd,seconds,images_per_sec";

export function formatCsvRow(m: EpochMetrics): string {
  return [m.epoch, m.loss, m.acc, m.valLoss, m.valAcc, m.lr, m.wd, m.seconds.toFixed(3), m.imagesPerSec.toFixed(2)].join(",");
}

function sci(v: number): string {
  return v === 0 ? "0" : v.toExponential(3);
}
