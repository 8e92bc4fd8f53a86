import { sqlRequestSchema, sqlResultSchema } from "../../shared/api-schemas.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { acceptsCsv, toCsv } from "../http/csv.ts";
import type { Router } from "../http/router.ts";
import { runReaderQuery } from "../sql/run-reader-query.ts";

export function sqlRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "post",
    path: "/v1/sql",
    operationId: "runSql",
    summary: "Run one read-only SQL statement over runs_view, epoch_metrics_view and run_summary",
    description:
      "One statement, in a READ ONLY transaction that is rolled back, as a role that can only SELECT the " +
      "documented views. statement_timeout 5 s; at most 10,000 rows (`truncated: true` when cut). `Accept: " +
      "text/csv` answers CSV (header `X-Truncated`). Postgres's error comes back as 400 `sql_error`.",
    tag: "sql",
    scope: "read",
    body: sqlRequestSchema,
    responses: {
      200: { description: "The result", schema: sqlResultSchema, alternatives: ["text/csv"] },
      503: { description: "The SQL reader role is not set up or cannot connect" },
    },
  }, async (c, { body }) => {
    if (deps.readerSql === null) {
      throw new AppError(
        "unavailable",
        "SQL queries are unavailable: the SQL reader role could not be set up (see the server log)",
      );
    }
    const result = await runReaderQuery(deps.readerSql, body.sql, {
      timeoutMs: deps.options.sqlTimeoutMs,
      rowCap: deps.options.sqlRowCap,
    });
    if (acceptsCsv(c.req.header("accept"))) {
      return c.body(toCsv(result.columns.map((col) => col.name), result.rows), 200, {
        "Content-Type": "text/csv; charset=utf-8",
        "X-Truncated": String(result.truncated),
      });
    }
    return c.json(result, 200);
  });
}
