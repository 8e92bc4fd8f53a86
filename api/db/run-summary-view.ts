/**
 * The `run_summary` view (migrations/0001) as drizzle sees it, so the API can join it with typed
 * columns. `.existing()`: drizzle-kit must not try to create it; the migration owns its definition.
 */
import { doublePrecision, integer, pgView, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { RUN_STATES } from "../../shared/run-states.ts";

export const runSummaryView = pgView("run_summary", {
  runId: uuid("run_id").notNull(),
  name: text("name"),
  sweepId: uuid("sweep_id"),
  state: text("state", { enum: RUN_STATES }).notNull(),
  thresholdEpoch: integer("threshold_epoch"),
  accVal: doublePrecision("acc_val"),
  acc: doublePrecision("acc"),
  bestEpoch: integer("best_epoch"),
  bestValAcc: doublePrecision("best_val_acc"),
  finalLoss: doublePrecision("final_loss"),
  finalValLoss: doublePrecision("final_val_loss"),
  epochsDone: integer("epochs_done"),
  shift: doublePrecision("shift"),
  l2: doublePrecision("l2"),
  lambda: doublePrecision("lambda"),
  alpha: doublePrecision("alpha"),
  schedule: text("schedule"),
  wdSchedule: text("wd_schedule"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  // migrations/0008: the test-set figures of the best-epoch and the final weights.
  bestTestAcc: doublePrecision("best_test_acc"),
  bestTestLoss: doublePrecision("best_test_loss"),
  finalTestAcc: doublePrecision("final_test_acc"),
  finalTestLoss: doublePrecision("final_test_loss"),
}).existing();
