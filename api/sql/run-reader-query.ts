/**
 * Runs one user-supplied SQL statement for POST /v1/sql. The layers, each enough on its own for part
 * of the threat and together for all of it:
 *
 * - the session is logged in as the reader role (sql-reader.ts): SELECT on three views, nothing else,
 *   no membership to SET ROLE into, no superuser-only functions (COPY PROGRAM, pg_read_file, lo_import);
 * - the statement runs in a READ ONLY transaction that is always rolled back, so writes, DDL and even
 *   session-level `SET`/`set_config(…, false)` do not outlive the request, and NOTIFY is never sent;
 * - it is sent with the extended protocol, which accepts exactly one statement ("select 1; drop …" is
 *   refused by Postgres's parser before anything runs);
 * - statement_timeout and lock_timeout are set inside the transaction, before the statement;
 * - the byte cap is enforced by Postgres while rows are produced: the statement runs wrapped as
 *   `select … from (<statement>) q`, with each row's text length added up (a running sum); the row
 *   at which the sum passes the cap comes back with its values nulled and a flag, and the fetch stops
 *   there (truncated). No more than the cap ever reaches this process: a 300 MB value arrives as a
 *   flag, not as 300 MB. Statements that cannot be a subquery run as they are only when they are
 *   EXPLAIN or SHOW (which print little), or a data-modifying WITH (refused as read-only);
 * - rows are fetched through a protocol-level cursor in batches, stopping past the row cap or the
 *   byte cap;
 * - afterwards DISCARD ALL drops anything session-scoped the statement may have created (prepared
 *   statements, advisory locks, cursors), before the connection serves anyone else.
 */
import postgres from "postgres";
import type { SqlResult } from "../../shared/api-schemas.ts";
import { AppError } from "../app-error.ts";

export interface ReaderQueryOptions {
  timeoutMs: number;
  rowCap: number;
  /** Rough cap on the result's size; past it the result is cut off with `truncated: true`. */
  maxBytes?: number;
}

const INT8 = 20;
const CLOSE = (postgres as unknown as { CLOSE: unknown }).CLOSE;
const FETCH_BATCH = 1000;
export const DEFAULT_MAX_RESULT_BYTES = 32 * 1024 * 1024;

/** Roughly what a row costs as JSON: strings by length, everything else a few bytes. */
function approximateSize(row: unknown[]): number {
  let n = 2;
  for (const v of row) {
    if (typeof v === "string") n += v.length + 3;
    else if (v instanceof Uint8Array) n += v.length * 2 + 4;
    else if (v !== null && typeof v === "object") n += JSON.stringify(v)?.length ?? 4;
    else n += 8;
  }
  return n;
}

export async function runReaderQuery(
  reader: postgres.Sql,
  text: string,
  opts: ReaderQueryOptions,
): Promise<SqlResult> {
  let conn: postgres.ReservedSql;
  try {
    conn = await reader.reserve();
  } catch (e) {
    throw new AppError("unavailable", `the SQL reader cannot connect: ${(e as Error).message}`, { cause: e });
  }
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_RESULT_BYTES;
  let clean = false;
  try {
    await conn.unsafe("begin transaction isolation level repeatable read read only");
    // A SELECT, not SET: it also takes the transaction's snapshot, after which Postgres refuses
    // `SET TRANSACTION READ WRITE`.
    await conn`select set_config('statement_timeout', ${String(opts.timeoutMs)}, true),
      set_config('lock_timeout', ${String(opts.timeoutMs)}, true),
      set_config('idle_in_transaction_session_timeout', ${String(opts.timeoutMs * 2)}, true)`;
    const rows: unknown[][] = [];
    const wrapped = await boundedStatement(conn, text, maxBytes);
    // .cursor() switches the query to the extended protocol (Parse/Bind/Execute with a row limit),
    // which is what refuses a second statement in the text.
    const query = conn.unsafe(wrapped.text).values();
    // Rows come in batches so that a few huge rows (`repeat('x', 1e8)`) stop the fetch at the byte cap
    // instead of filling this process's memory; the row cap alone would not.
    let bytes = 0;
    let overBytes = false;
    try {
      // Returning CLOSE closes the portal: Postgres stops producing rows as soon as we have enough.
      await query.cursor(Math.min(FETCH_BATCH, opts.rowCap + 1), (batch) => {
        for (const full of batch as unknown as unknown[][]) {
          const row = wrapped.flagged ? full.slice(0, -1) : full;
          bytes += approximateSize(row);
          if ((wrapped.flagged && full[full.length - 1] === true) || bytes > maxBytes) {
            overBytes = true;
            return CLOSE;
          }
          rows.push(row);
        }
        return rows.length > opts.rowCap ? CLOSE : undefined;
      });
    } catch (e) {
      if (isPostgresError(e)) throw new AppError("sql_error", e.message, { cause: e });
      throw e;
    }
    const described = ((query as unknown as { statement?: { columns?: { name: string; type: number }[] } })
      .statement?.columns ?? []).slice(0, wrapped.flagged ? -1 : undefined);
    const types = await typeNames(conn, described.map((c) => c.type));
    const truncated = overBytes || rows.length > opts.rowCap;
    if (rows.length > opts.rowCap) rows.length = opts.rowCap;
    const int8Columns = described.flatMap((c, i) => (c.type === INT8 ? [i] : []));
    const out = rows.map((row) => row.map((v, i) => jsonValue(v, int8Columns.includes(i))));
    await conn.unsafe("rollback");
    await conn.unsafe("discard all");
    clean = true;
    return {
      columns: described.map((c) => ({ name: c.name, type: types.get(c.type) ?? `oid ${c.type}` })),
      rows: out,
      rowCount: out.length,
      truncated,
    };
  } finally {
    if (!clean) {
      await conn.unsafe("rollback").catch(() => {});
      await conn.unsafe("discard all").catch(() => {});
    }
    conn.release();
  }
}

type Described = { columns?: { name: string; type: number }[] };

/**
 * The statement to run: wrapped so that Postgres itself nulls the values of the row at which the
 * result's text passes `maxBytes` and flags it (last column); or the statement itself when it returns
 * no columns, or cannot be wrapped and is harmless (see above).
 */
async function boundedStatement(
  conn: postgres.ReservedSql,
  text: string,
  maxBytes: number,
): Promise<{ text: string; flagged: boolean }> {
  let columns: { name: string; type: number }[];
  try {
    columns = ((await conn.unsafe(text).describe()) as unknown as Described).columns ?? [];
  } catch (e) {
    if (isPostgresError(e)) throw new AppError("sql_error", e.message, { cause: e });
    throw e;
  }
  if (columns.length === 0) return { text, flagged: false };
  const inner = stripTrailing(text);
  const names = columns.map((_, i) => `c${i}`);
  const size = names.map((c) => `coalesce(octet_length(q.${c}::text), 0)`).join(" + ");
  const cap = Math.floor(maxBytes);
  // OFFSET 0 keeps Postgres from inlining a subquery, which would compute each value once per mention.
  // Innermost, a row over the whole cap loses its values before anything holds it; then a running sum
  // (which spools rows, now each within the cap) flags the row at which the result passes the cap.
  const trimmed = columns.map((_, i) => `case when r.size > ${cap} then null else r.${names[i]} end as ${names[i]}`);
  const values = columns.map((col, i) =>
    `case when w.over then null else w.${names[i]} end as "${col.name.replace(/"/g, '""')}"`
  );
  const candidate = `select ${values.join(", ")}, w.over as "__over" from (
  select t.*, sum(t.size) over (rows between unbounded preceding and current row) > ${cap} as over from (
    select ${trimmed.join(", ")}, r.size from (
      select q.*, ${size} as size from (
        select * from (
${inner}
) as q0(${names.join(", ")}) offset 0
      ) as q offset 0
    ) as r offset 0
  ) as t
) as w`;
  try {
    await conn.unsafe("savepoint bounded_probe");
    await conn.unsafe(candidate).describe();
    await conn.unsafe("release savepoint bounded_probe");
    return { text: candidate, flagged: true };
  } catch (e) {
    if (!isPostgresError(e)) throw e;
    await conn.unsafe("rollback to savepoint bounded_probe");
    // EXPLAIN and SHOW print little; a data-modifying WITH fails as read-only before any row.
    if (/^\s*(explain|show)\b/i.test(stripLeadingComments(text))) return { text, flagged: false };
    if (/\b(insert|update|delete|merge)\b/i.test(text) && /^\s*with\b/i.test(stripLeadingComments(text))) {
      return { text, flagged: false };
    }
    throw new AppError(
      "sql_error",
      "POST /v1/sql runs one query that can be a subquery (SELECT, VALUES, TABLE, WITH … SELECT), or EXPLAIN or SHOW: " +
        e.message,
      { cause: e },
    );
  }
}

/** The statement without what may follow it at the end (semicolons, comments, space). */
function stripTrailing(text: string): string {
  for (;;) {
    const next = text.replace(/(?:\s+|;|--[^\n]*$|\/\*[\s\S]*?\*\/\s*$)$/, "");
    if (next === text) return text;
    text = next;
  }
}

function stripLeadingComments(text: string): string {
  return text.replace(/^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/, "");
}

/** Postgres's own names for the result's types (`int4`, `timestamp with time zone`, `text[]`). */
async function typeNames(conn: postgres.ReservedSql, oids: number[]): Promise<Map<number, string>> {
  const unique = [...new Set(oids)];
  if (unique.length === 0) return new Map();
  const rows = await conn<{ oid: number; name: string }[]>`
    select oid::int as oid, format_type(oid, null) as name from pg_type where oid = any(${unique}::oid[])`;
  return new Map(rows.map((r) => [r.oid, r.name]));
}

/** What JSON can carry: int8 as a number when exact, bytes as Postgres's hex text. */
function jsonValue(v: unknown, int8: boolean): unknown {
  if (int8 && typeof v === "string") {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  if (v instanceof Uint8Array) return `\\x${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

function isPostgresError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && e.name === "PostgresError";
}
