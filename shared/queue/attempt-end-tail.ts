import type postgres from "postgres";
import type { RunError } from "./queue-types.ts";

export interface AttemptEndTail {
  /** The attempt's outcome in `run_attempts` (an SQL expression over `r`, e.g. sql`'succeeded'`). */
  outcome: postgres.Fragment;
  /** The attempt's error, when it failed. */
  error?: RunError;
  /** The `state` event's payload (an SQL expression over `r`). */
  payload: postgres.Fragment;
  /**
   * The worker that held the attempt, and the state it is in afterwards; null: the caller updates the
   * worker row itself (a completion that claims the worker's next run in the same statement).
   */
  workerId: string;
  workerState: "idle" | "draining" | null;
}

/**
 * What every fenced end of a claimed attempt writes after its UPDATE of `runs` (a CTE named `r`
 * returning the run's id, attempt, worker_id and last_seq): the attempt's row in `run_attempts` ended
 * with its outcome, the run's `state` event at the new `last_seq`, and (unless `workerState` is null)
 * the worker freed. Completing,
 * failing, releasing and ending a cancelled run share it; the reaper's, for many runs of workers that
 * are gone, is its own. All of it reads from `r`, so a fenced-off worker (no row in `r`) writes nothing.
 *
 * @example
 * await sql`with r as (update runs set … returning id, attempt, worker_id, last_seq)
 *   ${attemptEndTail(sql, { outcome: sql`'succeeded'`, payload: sql`jsonb_build_object('state', 'succeeded')`,
 *     workerId: lease.workerId, workerState: "idle" })}
 *   select last_seq::float8 as seq from r`;
 */
export function attemptEndTail(sql: postgres.Sql, o: AttemptEndTail): postgres.Fragment {
  const error = o.error === undefined ? sql`` : sql`, error = ${sql.json(o.error as never)}`;
  return sql`, logged as (
      update run_attempts a set ended_at = now(), outcome = ${o.outcome}${error}
      from r where a.run_id = r.id and a.attempt = r.attempt
    ), event as (
      insert into run_events (run_id, seq, type, payload)
      select id, last_seq, 'state', ${o.payload}
      from r
    )${o.workerState === null ? sql`` : sql`, idle as (
      update workers set state = ${o.workerState}, current_run_id = null, last_seen_at = now()
      where id = ${o.workerId} and exists (select 1 from r)
    )`}`;
}
