/**
 * The shapes that cross the REST API's boundary: request bodies and query strings (validated by the
 * API with these schemas) and response bodies (typed by them, and documented from them in
 * `/openapi.json`). The run spec itself is `shared/run-spec.ts`; this file only adds what HTTP needs.
 *
 * @example
 * ```ts
 * import { runListQuerySchema, type RunView } from "./api-schemas.ts";
 * const query = runListQuerySchema.parse({ state: "queued,running", limit: "10" });
 * query.state; // ["queued", "running"]
 * ```
 */
import { z } from "zod";
import type { Issue } from "./issue.ts";
import { RUN_STATES, TOKEN_SCOPES } from "./run-states.ts";
import { epochMetricsSchema } from "./epoch-metrics.ts";
import { runSpecSchema } from "./run-spec.ts";
import { SUMMARY_FIGURE_NAMES, SUMMARY_FIGURES, type SummaryFigure } from "./run-summary.ts";

/** Largest page of `GET /v1/runs`. */
export const MAX_PAGE_SIZE = 1000;
/** Largest number of runs one sweep may expand to. */
export const MAX_SWEEP_RUNS = 1000;

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 date-time");
const nullableTimestamp = timestamp.nullable();

// ── errors ──────────────────────────────────────────────────────────────────────────────────────────

/** The wire form of shared/issue.ts's Issue (the `satisfies` keeps the two from drifting apart). */
export const errorIssueSchema = z.object({
  /** Dotted path into the body or query (`optimizer.lambda`, `grid.schedule.2`); "" for the whole. */
  path: z.string(),
  message: z.string(),
}) satisfies z.ZodType<Issue>;

/** Every error response has this body, whatever its status. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe("stable, machine-readable: validation_failed, not_found, conflict, …"),
    message: z.string(),
    issues: z.array(errorIssueSchema).optional(),
  }),
}).meta({ id: "Error" });

// ── runs ────────────────────────────────────────────────────────────────────────────────────────────

export const runStateSchema = z.enum(RUN_STATES);

/** The seed's table figures for one run (shared/run-summary.ts declares them); null until the run has what they need. */
export const runSummarySchema = z.object(
  Object.fromEntries(SUMMARY_FIGURE_NAMES.map((k) => {
    const f = SUMMARY_FIGURES[k];
    return [k, (f.int ? z.int() : z.number()).nullable().describe(f.doc)];
  })) as { [K in SummaryFigure]: z.ZodNullable<z.ZodNumber> },
).meta({ id: "RunSummary" });

export const runViewSchema = z.object({
  id: z.uuid(),
  name: z.string().nullable(),
  sweepId: z.uuid().nullable(),
  state: runStateSchema,
  priority: z.int(),
  tags: z.array(z.string()),
  /** The fully defaulted spec as stored (a valid input that parses to itself). */
  spec: runSpecSchema,
  /** The schedule's last epoch. */
  epochs: z.int(),
  /** Claims so far (a claim handed back by a draining worker does not count against maxAttempts). */
  attempt: z.int(),
  maxAttempts: z.int(),
  workerId: z.string().nullable(),
  /** Why the run failed (or why its last attempt did), as the worker recorded it. */
  error: z.unknown().nullable(),
  cancelRequestedAt: nullableTimestamp,
  createdAt: timestamp,
  startedAt: nullableTimestamp,
  finishedAt: nullableTimestamp,
  updatedAt: timestamp,
  summary: runSummarySchema,
}).meta({ id: "Run" });
export type RunView = z.output<typeof runViewSchema>;

/** A query-string list: `state=queued,running` or `state=queued&state=running`. */
function listParam<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => {
    if (v === undefined) return undefined;
    const values = Array.isArray(v) ? v : [v];
    return values.flatMap((s) => String(s).split(",")).map((s) => s.trim()).filter((s) => s !== "");
  }, z.array(item).optional());
}

export const RUN_SORTS = ["-createdAt", "createdAt", "name", "-name"] as const;

export const runListQuerySchema = z.strictObject({
  state: listParam(runStateSchema).describe("states, comma-separated or repeated"),
  sweep: z.uuid().optional().describe("only runs of this sweep"),
  tag: listParam(z.string().min(1).max(64)).describe("runs carrying every one of these tags"),
  namePrefix: z.string().min(1).max(200).optional().describe("runs whose name starts with this"),
  sort: z.enum(RUN_SORTS).default("-createdAt").describe("field, '-' for descending"),
  cursor: z.string().max(2000).optional().describe("nextCursor of the previous page"),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
});
export type RunListQuery = z.output<typeof runListQuerySchema>;

export const runListSchema = z.object({
  runs: z.array(runViewSchema),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: z.string().nullable(),
}).meta({ id: "RunList" });

export { epochMetricsSchema };

export const runMetricsSchema = z.object({
  runId: z.uuid(),
  epochs: z.array(epochMetricsSchema),
}).meta({ id: "RunMetrics" });

// ── sweeps ──────────────────────────────────────────────────────────────────────────────────────────

/** `optimizer.lambda`, `schedule`, `data.seed`: a path into the run spec, one name per level. */
export const dottedPathSchema = z.string().regex(
  /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/,
  "expected a dotted path of field names such as 'optimizer.lambda'",
).refine(
  (p) => !p.split(".").some((k) => k === "constructor" || k === "prototype"),
  "expected a run spec field, not an object internal",
);

export const sweepRequestSchema = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  /** The spec every run starts from; the grid overrides fields of it. Validated after expansion. */
  base: z.record(z.string(), z.unknown()).default({})
    .describe("a run spec (possibly partial: fields the grid sets may be left out)"),
  /** Dotted path → values; the sweep is the cross product, the first path varying slowest. */
  grid: z.record(dottedPathSchema, z.array(z.unknown()).min(1).max(MAX_SWEEP_RUNS)).default({}),
  /** Runs per grid point, with data.seed = the point's seed + 0, 1, …, repeat − 1. */
  repeat: z.int().min(1).max(MAX_SWEEP_RUNS).default(1),
});
export type SweepRequest = z.output<typeof sweepRequestSchema>;

export const sweepViewSchema = z.object({
  id: z.uuid(),
  name: z.string().nullable(),
  baseSpec: z.unknown(),
  grid: z.record(z.string(), z.array(z.unknown())),
  repeat: z.int(),
  createdAt: timestamp,
  /** Runs per state. */
  counts: z.record(runStateSchema, z.int()),
  runs: z.array(runViewSchema),
}).meta({ id: "Sweep" });
export type SweepView = z.output<typeof sweepViewSchema>;

// ── SQL ─────────────────────────────────────────────────────────────────────────────────────────────

export const sqlRequestSchema = z.strictObject({
  sql: z.string().min(1).max(100_000).describe(
    "one statement over runs_view, epoch_metrics_view, run_summary",
  ),
});

export const sqlResultSchema = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  /** One array per row, in column order. */
  rows: z.array(z.array(z.unknown())),
  rowCount: z.int(),
  /** True when the result had more rows than the cap and was cut off there. */
  truncated: z.boolean(),
}).meta({ id: "SqlResult" });
export type SqlResult = z.output<typeof sqlResultSchema>;

// ── report ──────────────────────────────────────────────────────────────────────────────────────────

export const reportQuerySchema = z.strictObject({
  sweep: z.uuid().optional().describe("the sweep's runs, in sweep order; all runs when left out"),
  format: z.enum(["json", "md", "csv"]).default("json"),
});

/** One line of the seed's table (Table 3): run, threshold epoch, acc_val, acc, best epoch, … */
export const reportRowSchema = z.object({
  run: z.string(),
  runId: z.uuid(),
  state: runStateSchema,
  ...runSummarySchema.omit({ epochsDone: true }).shape,
  shift: z.number().nullable(),
  l2: z.number().nullable(),
  lambda: z.number().nullable(),
  alpha: z.number().nullable(),
  schedule: z.string().nullable(),
  /** The separate weight-decay schedule, null when λ couples the decay to the LR schedule. */
  wdSchedule: z.string().nullable(),
});
export type ReportRow = z.output<typeof reportRowSchema>;

export const reportSchema = z.object({ rows: z.array(reportRowSchema) }).meta({ id: "Report" });

// ── workers, health ────────────────────────────────────────────────────────────────────────────────

export const workerViewSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.int(),
  backend: z.string(),
  device: z.string(),
  version: z.string(),
  state: z.enum(["idle", "busy", "draining", "gone"]),
  currentRunId: z.uuid().nullable(),
  startedAt: timestamp,
  lastSeenAt: timestamp,
});

export const workerListSchema = z.object({ workers: z.array(workerViewSchema) }).meta({ id: "WorkerList" });

export const healthSchema = z.object({ status: z.literal("ok"), database: z.literal("ok") });

// ── tokens ─────────────────────────────────────────────────────────────────────────────────────────

export const tokenScopeSchema = z.enum(TOKEN_SCOPES);

export const tokenCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  scopes: z.array(tokenScopeSchema).min(1).max(TOKEN_SCOPES.length)
    .refine((s) => new Set(s).size === s.length, "expected each scope once"),
  expiresAt: timestamp.optional(),
});

export const tokenViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  /** The first characters of the token, to tell tokens apart. */
  prefix: z.string(),
  scopes: z.array(tokenScopeSchema),
  createdAt: timestamp,
  expiresAt: nullableTimestamp,
  revokedAt: nullableTimestamp,
  lastUsedAt: nullableTimestamp,
}).meta({ id: "Token" });
export type TokenView = z.output<typeof tokenViewSchema>;

export const createdTokenSchema = z.object({
  ...tokenViewSchema.shape,
  /** The bearer token: shown in this response only. */
  token: z.string(),
}).meta({ id: "CreatedToken" });

export const tokenListSchema = z.object({ tokens: z.array(tokenViewSchema) });
