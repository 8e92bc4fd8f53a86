/**
 * The seed's summary table ("Table 3"), one row per run, in the seed's columns and number formats:
 * acc_val, val acc best and the test accuracies to 5 decimals, acc and the losses to 4, shift and λ to
 * 2 (more when the value has more), l2 to 1 (more when it has more), α as a schedule writes it. Written
 * in one place for the API's report (`GET /v1/report?format=md`) and the summary line of `npm run train`.
 *
 * @example
 * ```ts
 * seedTableMarkdown([row]);
 * // | # | epoch | acc_val | acc | epo best | … | LR reduction model |
 * // |---|---|---|…|
 * // | run 17 | 23 | 0.92310 | 0.9590 | 29 | 0.92570 | 0.0903 | 0.2317 | – | – | 0.07 | 0.0 | 0.15 | 1e-3 | [1e-3, 0]lin… |
 * ```
 */
import type { SeedSummary } from "./run-summary.ts";
import { formatScheduleNumber } from "./schedule/format-schedule.ts";

/** One run's row: its label, the summary figures, the test-set accuracies and the spec's columns. */
export interface SeedTableRow extends Omit<SeedSummary, "epochsDone"> {
  run: string;
  bestTestAcc: number | null;
  finalTestAcc: number | null;
  shift: number | null;
  l2: number | null;
  lambda: number | null;
  alpha: number | null;
  /** The LR schedule's text. */
  schedule: string | null;
  /** The separate weight-decay schedule, when the run has one (written after the LR schedule). */
  wdSchedule?: string | null;
}

export const SEED_TABLE_HEADER = [
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
] as const;

/** The header line, a separator line and one line per row, each ending in a newline. */
export function seedTableMarkdown(rows: readonly SeedTableRow[]): string {
  return [
    seedTableLine(SEED_TABLE_HEADER),
    `|${SEED_TABLE_HEADER.map(() => "---").join("|")}|`,
    ...rows.map(seedTableRowLine),
  ].join("\n") + "\n";
}

/** One run's line. */
export function seedTableRowLine(r: SeedTableRow): string {
  const schedule = r.schedule === null ? null : r.wdSchedule ? `${r.schedule} wd ${r.wdSchedule}` : r.schedule;
  return seedTableLine([
    r.run,
    r.thresholdEpoch === null ? DASH : String(r.thresholdEpoch),
    fixed(r.accVal, 5),
    fixed(r.acc, 4),
    r.bestEpoch === null ? DASH : String(r.bestEpoch),
    fixed(r.bestValAcc, 5),
    fixed(r.finalLoss, 4),
    fixed(r.finalValLoss, 4),
    fixed(r.bestTestAcc, 5),
    fixed(r.finalTestAcc, 5),
    atLeast(r.shift, 2),
    atLeast(r.l2, 1),
    atLeast(r.lambda, 2),
    r.alpha === null ? DASH : formatScheduleNumber(r.alpha),
    schedule ?? DASH,
  ]);
}

const DASH = "–";

function seedTableLine(cells: readonly string[]): string {
  return `| ${cells.map((s) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ")).join(" | ")} |`;
}

function fixed(v: number | null, digits: number): string {
  return v === null ? DASH : v.toFixed(digits);
}

/** `digits` decimals, or as many as the value needs (a λ of 0.125 is not "0.13", an l2 of 5e-4 not "0.0"). */
function atLeast(v: number | null, digits: number): string {
  if (v === null) return DASH;
  const exact = /^\d+(?:\.(\d+))?$/.exec(String(v)) ?? /^\d+(?:\.(\d+))?$/.exec(v.toFixed(20).replace(/0+$/, ""));
  const needed = exact?.[1]?.length ?? 0;
  return v.toFixed(Math.min(20, Math.max(digits, needed)));
}
