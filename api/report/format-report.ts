/**
 * The seed's table ("Table 3") from report rows: Markdown with the seed's columns and number formats
 * (shared/seed-table.ts, which `npm run train` also uses), or CSV with every figure at full precision
 * for spreadsheets.
 */
import type { ReportRow } from "../../shared/api-schemas.ts";
import { seedTableMarkdown } from "../../shared/seed-table.ts";
import { toCsv } from "../http/csv.ts";

/**
 * @example
 * ```ts
 * reportMarkdown(rows);
 * // | # | epoch | acc_val | … |
 * // |---|---|---|…|
 * // | run 17 | 23 | 0.92310 | 0.9590 | 29 | 0.92570 | 0.0903 | 0.2317 | 0.92110 | 0.91870 | 0.07 | 0.0 | 0.15 | 1e-3 | [1e-3, 0]lin… |
 * ```
 */
export function reportMarkdown(rows: readonly ReportRow[]): string {
  return seedTableMarkdown(rows);
}

export const REPORT_CSV_HEADER = [
  "run",
  "run_id",
  "state",
  "threshold_epoch",
  "acc_val",
  "acc",
  "best_epoch",
  "best_val_acc",
  "final_loss",
  "final_val_loss",
  "best_test_acc",
  "best_test_loss",
  "final_test_acc",
  "final_test_loss",
  "shift",
  "l2",
  "lambda",
  "alpha",
  "schedule",
  "wd_schedule",
] as const;

export function reportCsv(rows: readonly ReportRow[]): string {
  return toCsv(
    REPORT_CSV_HEADER,
    rows.map((r) => [
      r.run,
      r.runId,
      r.state,
      r.thresholdEpoch,
      r.accVal,
      r.acc,
      r.bestEpoch,
      r.bestValAcc,
      r.finalLoss,
      r.finalValLoss,
      r.bestTestAcc,
      r.bestTestLoss,
      r.finalTestAcc,
      r.finalTestLoss,
      r.shift,
      r.l2,
      r.lambda,
      r.alpha,
      r.schedule,
      r.wdSchedule,
    ]),
  );
}
