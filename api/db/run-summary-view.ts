/**
 * The `run_summary` view (migrations/0001) as drizzle sees it, so the API can join it with typed
 * columns. `.existing()`: drizzle-kit must not try to create it; the migrations own its definition. Its
 * figure columns come from shared/run-summary.ts.
 */
import { doublePrecision, integer, pgView, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { RUN_STATES } from "../../shared/run-states.ts";
import { SUMMARY_FIGURE_NAMES, SUMMARY_FIGURES, type SummaryFigure } from "../../shared/run-summary.ts";

type Figures = typeof SUMMARY_FIGURES;
/** One drizzle column per figure of shared/run-summary.ts, under its view column's name. */
const figureColumns = Object.fromEntries(SUMMARY_FIGURE_NAMES.map((k) => {
  const f = SUMMARY_FIGURES[k];
  return [k, f.int ? integer(f.column) : doublePrecision(f.column)];
})) as {
  [K in SummaryFigure]: Figures[K]["int"] extends true ? ReturnType<typeof integer> : ReturnType<typeof doublePrecision>;
};

export const runSummaryView = pgView("run_summary", {
  runId: uuid("run_id").notNull(),
  name: text("name"),
  sweepId: uuid("sweep_id"),
  state: text("state", { enum: RUN_STATES }).notNull(),
  shift: doublePrecision("shift"),
  l2: doublePrecision("l2"),
  lambda: doublePrecision("lambda"),
  alpha: doublePrecision("alpha"),
  schedule: text("schedule"),
  wdSchedule: text("wd_schedule"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  ...figureColumns,
}).existing();
