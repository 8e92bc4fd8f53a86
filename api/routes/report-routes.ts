import { asc, eq } from "drizzle-orm";
import { reportQuerySchema, type ReportRow, reportSchema } from "../../shared/api-schemas.ts";
import { sweeps } from "../../shared/db/schema.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { runSummaryView } from "../db/run-summary-view.ts";
import type { Router } from "../http/router.ts";
import { reportCsv, reportMarkdown } from "../report/format-report.ts";

/** A report without a sweep covers every run; this keeps it to a response a browser can show. */
const REPORT_MAX_ROWS = 10_000;

export function reportRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "get",
    path: "/v1/report",
    operationId: "getReport",
    summary: "The seed's table for a sweep (or every run): md, csv or json",
    description:
      "Columns: run, threshold epoch, acc_val, acc, best epoch, best val acc, final loss, final val loss, shift, " +
      "l2, λ, α, schedule (and the weight-decay schedule when separate). Runs without the epochs a figure needs show it empty (null, '', '–').",
    tag: "report",
    scope: "read",
    query: reportQuerySchema,
    responses: {
      200: { description: "The table", schema: reportSchema, alternatives: ["text/markdown", "text/csv"] },
      404: { description: "No such sweep" },
    },
  }, async (c, { query }) => {
    const v = runSummaryView;
    if (query.sweep !== undefined) {
      const [found] = await deps.db.select({ id: sweeps.id }).from(sweeps).where(eq(sweeps.id, query.sweep));
      if (found === undefined) throw new AppError("not_found", `sweep ${query.sweep} does not exist`);
    }
    const base = deps.db.select().from(v);
    const rows = await (query.sweep === undefined ? base : base.where(eq(v.sweepId, query.sweep)))
      .orderBy(asc(v.createdAt), asc(v.runId)).limit(REPORT_MAX_ROWS);
    const report: ReportRow[] = rows.map((r, i) => ({
      run: r.name ?? String(i + 1),
      runId: r.runId,
      state: r.state,
      thresholdEpoch: r.thresholdEpoch,
      accVal: r.accVal,
      acc: r.acc,
      bestEpoch: r.bestEpoch,
      bestValAcc: r.bestValAcc,
      finalLoss: r.finalLoss,
      finalValLoss: r.finalValLoss,
      bestTestAcc: r.bestTestAcc,
      bestTestLoss: r.bestTestLoss,
      finalTestAcc: r.finalTestAcc,
      finalTestLoss: r.finalTestLoss,
      shift: r.shift,
      l2: r.l2,
      lambda: r.lambda,
      alpha: r.alpha,
      schedule: r.schedule,
      wdSchedule: r.wdSchedule,
    }));
    if (query.format === "md") {
      return c.body(reportMarkdown(report), 200, { "Content-Type": "text/markdown; charset=utf-8" });
    }
    if (query.format === "csv") {
      return c.body(reportCsv(report), 200, { "Content-Type": "text/csv; charset=utf-8" });
    }
    return c.json({ rows: report }, 200);
  });
}
