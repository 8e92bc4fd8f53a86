/**
 * Text rows in the style of the seed's tables (pipe-separated, fixed decimals), for `npm run train`:
 * one row per epoch while training and the run's summary row at the end, with the seed's columns
 * "epoch | acc_val | acc | epo best | val acc best | final loss | final val loss | shift | l2 | λ | α | LR schedule".
 *
 * @example
 * console.log(EPOCH_HEADER); console.log(formatEpochRow(m));
 * console.log(SUMMARY_HEADER); console.log(formatSummaryRow("run 17", spec, summary));
 */
import { formatScheduleNumber } from "../../shared/schedule/mod.ts";
import type { SeedSummary } from "../../shared/run-summary.ts";
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
    m.imagesPerSecond.toFixed(1),
  ].join(" | ") + " |";
}

export const SUMMARY_HEADER =
  "# | epoch | acc_val | acc | epo best | val acc best | final loss | final val loss | shift | l2 | λ | α | LR schedule |";

export function formatSummaryRow(label: string, spec: TrainSpec, s: SeedSummary): string {
  const dash = "–";
  return [
    label,
    s.thresholdEpoch ?? dash,
    s.accVal === null ? dash : s.accVal.toFixed(5),
    s.acc === null ? dash : s.acc.toFixed(4),
    s.bestEpoch ?? dash,
    s.bestValAcc === null ? dash : s.bestValAcc.toFixed(5),
    s.finalLoss === null ? dash : s.finalLoss.toFixed(4),
    s.finalValLoss === null ? dash : s.finalValLoss.toFixed(4),
    String(spec.data.shift),
    spec.optimizer.l2.toFixed(Math.max(1, decimals(spec.optimizer.l2))),
    String(spec.optimizer.lambda),
    formatScheduleNumber(spec.optimizer.alpha),
    spec.wdSchedule ? `${spec.schedule} wd ${spec.wdSchedule}` : spec.schedule,
  ].join(" | ") + " |";
}

/** The CSV `--out` writes: a header and one line per epoch. */
export const CSV_HEADER = "epoch,loss,acc,val_loss,val_acc,lr,wd,seconds,images_per_second";

export function formatCsvRow(m: EpochMetrics): string {
  return [m.epoch, m.loss, m.acc, m.valLoss, m.valAcc, m.lr, m.wd, m.seconds.toFixed(3), m.imagesPerSecond.toFixed(2)].join(",");
}

function sci(v: number): string {
  return v === 0 ? "0" : v.toExponential(3);
}

function decimals(v: number): number {
  const s = String(v);
  const e = /e-(\d+)$/.exec(s);
  if (e) return Number(e[1]);
  return s.includes(".") ? s.split(".")[1]!.length : 0;
}
