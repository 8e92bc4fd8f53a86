/**
 * The API's reads and writes of runs, with drizzle over postgres.js. Every read joins `run_summary`
 * (the seed's table figures) so that a run always comes back in one shape, {@link RunView}.
 */
import { and, arrayContains, asc, desc, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type postgres from "postgres";
import type { RunListQuery, RunView } from "../../shared/api-schemas.ts";
import { epochMetrics, runs } from "../../shared/db/schema.ts";
import type { RunSpec } from "../../shared/run-spec.ts";
import { type RunSummaryFigures, SUMMARY_FIGURE_NAMES, type SummaryFigure } from "../../shared/run-summary.ts";
import { insertRuns } from "../../shared/queue/enqueue-run.ts";
import { unstorableText } from "../http/storable-input.ts";
import { AppError } from "../app-error.ts";
import { runSummaryView } from "./run-summary-view.ts";

/** Drizzle over postgres.js, with the client itself for hand-written statements. */
export type Db = PostgresJsDatabase<Record<string, never>> & { $client: postgres.Sql };

type RunRow = typeof runs.$inferSelect;
type SummaryRow = typeof runSummaryView.$inferSelect;

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

const selection = {
  run: runs,
  summary: {
    // First, and never null: drizzle decides whether a left-joined object is null from its first field
    // alone, so a run that has not reached its threshold would otherwise lose its whole summary.
    runId: runSummaryView.runId,
    ...(Object.fromEntries(SUMMARY_FIGURE_NAMES.map((k) => [k, runSummaryView[k]])) as {
      [K in SummaryFigure]: (typeof runSummaryView)[K];
    }),
  },
  /** Full microsecond precision for cursors (a JS Date keeps only milliseconds). */
  createdAtText: sql<string>`${runs.createdAt}::text`,
};

type SummaryFields = Pick<SummaryRow, "runId" | SummaryFigure>;

export function toRunView(row: { run: RunRow; summary: SummaryFields | null }): RunView {
  const { run, summary } = row;
  return {
    id: run.id,
    name: run.name,
    sweepId: run.sweepId,
    state: run.state,
    priority: run.priority,
    tags: run.tags,
    spec: run.spec,
    epochs: run.epochs,
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    workerId: run.workerId,
    error: run.error ?? null,
    cancelRequestedAt: iso(run.cancelRequestedAt),
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    updatedAt: run.updatedAt.toISOString(),
    summary: Object.fromEntries(SUMMARY_FIGURE_NAMES.map((k) => [k, summary?.[k] ?? null])) as RunSummaryFigures,
  };
}

function selectRuns(db: Db) {
  return db.select(selection).from(runs).leftJoin(runSummaryView, eq(runSummaryView.runId, runs.id));
}

/**
 * Drizzle builds this query's SQL (50-odd columns) anew on every call, which costs more CPU than Postgres
 * spends running it (~0.9 ms against ~0.3 ms, measured); the hottest read is therefore built once per
 * database handle and prepared.
 */
const getRunQueries = new WeakMap<Db, ReturnType<typeof prepareGetRun>>();
function prepareGetRun(db: Db) {
  return selectRuns(db).where(eq(runs.id, sql.placeholder("id"))).prepare("api_get_run");
}

export async function getRun(db: Db, id: string): Promise<RunView | null> {
  let query = getRunQueries.get(db);
  if (query === undefined) getRunQueries.set(db, query = prepareGetRun(db));
  const [row] = await query.execute({ id });
  return row === undefined ? null : toRunView(row);
}

/**
 * Inserts a run (shared/queue/enqueue-run.ts, the one insert of runs). With an idempotency key, a
 * second request with the same key and the same request hash gets the first run back (`created:
 * false`); with another hash it is a 409.
 */
export async function createRun(
  db: Db,
  spec: RunSpec,
  idempotency?: { key: string; requestHash: string },
  sweepId: string | null = null,
): Promise<{ run: RunView; created: boolean }> {
  const [inserted] = await insertRuns(db.$client, [{ spec, sweepId, ...(idempotency ? { idempotency } : {}) }]);
  let id = inserted ?? null;
  let created = true;
  if (id === null && idempotency !== undefined) {
    const [existing] = await db.select({ id: runs.id, requestHash: runs.requestHash }).from(runs)
      .where(eq(runs.idempotencyKey, idempotency.key));
    if (existing === undefined) throw new Error("idempotent insert did nothing, yet no run holds the key");
    if (existing.requestHash !== idempotency.requestHash) {
      throw new AppError(
        "idempotency_conflict",
        `Idempotency-Key ${
          JSON.stringify(idempotency.key)
        } was already used with a different request (run ${existing.id})`,
      );
    }
    id = existing.id;
    created = false;
  }
  const run = await getRun(db, id!);
  if (run === null) throw new Error(`run ${id} vanished right after its insert`);
  return { run, created };
}

// ── listing ──────────────────────────────────────────────────────────────────────────────────────────

interface Cursor {
  /** The sort key of the last row (created_at as Postgres text, or the name). */
  k: string;
  id: string;
  /** The sort it was made for: a cursor is meaningless under another order. */
  s: string;
}

function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify(c)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

function decodeCursor(text: string, sort: string): Cursor {
  const bad = () =>
    new AppError("bad_request", "the cursor is not one this API handed out (pass nextCursor unchanged)", {
      issues: [{ path: "cursor", message: "invalid cursor" }],
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    throw bad();
  }
  const c = parsed as Partial<Cursor>;
  if (typeof c !== "object" || c === null || typeof c.k !== "string" || typeof c.id !== "string") throw bad();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(c.id)) throw bad();
  if (c.s !== sort) {
    throw new AppError("bad_request", `the cursor was made for sort=${String(c.s)}, not sort=${sort}`, {
      issues: [{ path: "cursor", message: "cursor and sort do not match" }],
    });
  }
  // A forged key must fail here, not in Postgres: a timestamp as Postgres prints one, or a storable name.
  const byName = sort === "name" || sort === "-name";
  if (byName ? (c.k.length > 200 || unstorableText(c.k) !== null) : !TIMESTAMP_TEXT.test(c.k)) throw bad();
  return c as Cursor;
}

/**
 * One page of runs, keyset-paginated on (sort key, id): stable under concurrent inserts, and as fast on
 * page 1000 as on page 1. `name` sorts nulls as "".
 */
export async function listRuns(
  db: Db,
  q: RunListQuery,
): Promise<{ runs: RunView[]; nextCursor: string | null }> {
  const where: SQL[] = [];
  if (q.state !== undefined && q.state.length > 0) where.push(inArray(runs.state, q.state));
  if (q.sweep !== undefined) where.push(eq(runs.sweepId, q.sweep));
  if (q.tag !== undefined && q.tag.length > 0) where.push(arrayContains(runs.tags, q.tag));
  if (q.namePrefix !== undefined) {
    // starts_with: no LIKE wildcards to escape.
    where.push(sql`starts_with(${runs.name}, ${q.namePrefix})`);
  }
  const byName = q.sort === "name" || q.sort === "-name";
  const descending = q.sort.startsWith("-");
  const key = byName ? sql`coalesce(${runs.name}, '')` : sql`${runs.createdAt}`;
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor, q.sort);
    const value = byName ? sql`${c.k}` : sql`${c.k}::timestamptz`;
    where.push(
      descending
        ? sql`(${key}, ${runs.id}) < (${value}, ${c.id}::uuid)`
        : sql`(${key}, ${runs.id}) > (${value}, ${c.id}::uuid)`,
    );
  }
  const order = descending ? [desc(key), desc(runs.id)] : [asc(key), asc(runs.id)];
  // The page first (on runs alone, by index), then the summaries of just those runs: joined in one
  // query, Postgres computed run_summary's per-run subqueries for every matching run before sorting.
  const rows = await db.select({ run: runs, createdAtText: selection.createdAtText }).from(runs)
    .where(and(...where)).orderBy(...order).limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > q.limit && last !== undefined
    ? encodeCursor({ k: byName ? last.run.name ?? "" : last.createdAtText, id: last.run.id, s: q.sort })
    : null;
  return { runs: await withSummaries(db, page.map((r) => r.run)), nextCursor };
}

export async function runsOfSweep(db: Db, sweepId: string): Promise<RunView[]> {
  const rows = await db.select().from(runs).where(eq(runs.sweepId, sweepId)).orderBy(
    asc(runs.createdAt),
    asc(runs.id),
  );
  return await withSummaries(db, rows);
}

/** Run views for rows, in their order, with one query for all their summaries. */
async function withSummaries(db: Db, rows: RunRow[]): Promise<RunView[]> {
  if (rows.length === 0) return [];
  const { runId: _, ...fields } = selection.summary;
  const summaries = await db.select({ runId: runSummaryView.runId, ...fields }).from(runSummaryView)
    .where(inArray(runSummaryView.runId, rows.map((r) => r.id)));
  const byId = new Map(summaries.map((s) => [s.runId, s]));
  return rows.map((run) => toRunView({ run, summary: byId.get(run.id) ?? null }));
}

export async function runMetrics(db: Db, runId: string) {
  return await db.select({
    epoch: epochMetrics.epoch,
    loss: epochMetrics.loss,
    acc: epochMetrics.acc,
    valLoss: epochMetrics.valLoss,
    valAcc: epochMetrics.valAcc,
    lr: epochMetrics.lr,
    wd: epochMetrics.wd,
    seconds: epochMetrics.seconds,
    imagesPerSec: epochMetrics.imagesPerSec,
    attempt: epochMetrics.attempt,
  }).from(epochMetrics).where(eq(epochMetrics.runId, runId)).orderBy(asc(epochMetrics.epoch));
}

export async function runExists(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: runs.id }).from(runs).where(eq(runs.id, id));
  return row !== undefined;
}
