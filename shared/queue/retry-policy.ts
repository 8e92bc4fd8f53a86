/**
 * What happens to a run after an attempt failed, in SQL so that the worker's fail and the reaper decide
 * identically and on the database's clock. Attempts spent are `attempt - releases` (a drain release is
 * not spent). A retry waits `min(RETRY_CAP_S, RETRY_BASE_S · 2^(spent-1))`, jittered to 50–100 % so
 * that runs failed by one outage do not all come back in the same instant.
 */
import type postgres from "postgres";
import type { RunError } from "./queue-types.ts";

export const RETRY_BASE_S = 2;
export const RETRY_CAP_S = 600;

/**
 * SQL fragments over a locked `runs` row aliased `cur`. A cancel that was requested wins (the user
 * wanted it stopped anyway); a failure that is not retryable, or the last allowed attempt, ends the run
 * `failed`; anything else goes back to `queued` with a backoff.
 */
export function retryFragments(sql: postgres.Sql, error: RunError, retryable: boolean) {
  const nextState = sql`(case
    when cur.cancel_requested_at is not null then 'cancelled'
    when not ${retryable}::boolean then 'failed'
    when cur.attempt - cur.releases >= cur.max_attempts then 'failed'
    else 'queued' end)`;
  const exhausted = sql`(${retryable}::boolean and cur.cancel_requested_at is null
    and cur.attempt - cur.releases >= cur.max_attempts)`;
  const runError = sql`(case when ${exhausted} then jsonb_build_object(
      'code', 'attempts_exhausted',
      'message', 'Gave up after ' || (cur.attempt - cur.releases) || ' attempts (max_attempts '
        || cur.max_attempts || '); the last one failed: ' || (${sql.json(error as never)}::jsonb ->> 'message'),
      'detail', jsonb_build_object('last', ${sql.json(error as never)}::jsonb))
    else ${sql.json(error as never)}::jsonb end)`;
  const backoff = sql`(now() + make_interval(secs =>
    least(${RETRY_CAP_S}::double precision, ${RETRY_BASE_S}::double precision * power(2, greatest(cur.attempt - cur.releases, 1) - 1))
    * (0.5 + random() / 2)))`;
  return { nextState, runError, backoff };
}
