/**
 * The seed's table ("Table 3") from report rows: Markdown with the seed's columns and number formats
 * (acc_val, val acc best and test acc to 5 decimals, acc and losses to 4, λ to 2, α as the schedule writes it),
 * or CSV with every figure at full precision for spreadsheets.
 */
import type { ReportRow } from "../../shared/api-schemas.ts";
import { formatScheduleNumber } from "../../shared/schedule/format-schedule.ts";
import { toCsv } from "../http/csv.ts";

const MD_HEADER = [
  "#",
  "epoch",
  "acc_val",
  "acc",
  "epo best",
  "val acc best",
  "final loss",
  "final val loss",
  "test acc best",
  "test acc final",
  "shift",
  "l2",
  "λ",
  "α",
  "LR reduction model",
];

const fixed = (digits: number) => (v: number | null) => v === null ? "–" : v.toFixed(digits);

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
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
  const lines = [
    `| ${MD_HEADER.join(" | ")} |`,
    `|${MD_HEADER.map(() => "---").join("|")}|`,
    ...rows.map((r) =>
      `| ${
        [
          cell(r.run),
          r.thresholdEpoch === null ? "–" : String(r.thresholdEpoch),
          fixed(5)(r.accVal),
          fixed(4)(r.acc),
          r.bestEpoch === null ? "–" : String(r.bestEpoch),
          fixed(5)(r.bestValAcc),
          fixed(4)(r.finalLoss),
          fixed(4)(r.finalValLoss),
          fixed(5)(r.bestTestAcc),
          fixed(5)(r.finalTestAcc),
          fixed(2)(r.shift),
          fixed(1)(r.l2),
          fixed(2)(r.lambda),
          r.alpha === null ? "–" : formatScheduleNumber(r.alpha),
          cell(r.schedule ?? "–"),
        ].join(" | ")
      } |`
    ),
  ];
  return lines.join("\n") + "\n";
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
    ]),
  );
}
