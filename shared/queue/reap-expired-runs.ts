import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";
import { retryFragments } from "./retry-policy.ts";

export interface ReapedRun {
  runId: string;
  attempt: number;
  /** `queued` (retry after backoff), `failed` (attempts used up) or `cancelled` (a cancel was pending). */
  state: "queued" | "failed" | "cancelled";
  workerId: string | null;
}

/**
 * Takes back runs whose lease expired (on the database clock): their worker died, froze or lost the
 * network. Each goes back to `queued` with a backoff, or to `failed` when its attempts are used up,
 * with the reason ("lease_expired") kept on the run, in the attempt's log row and in a `state` event.
 * Every worker and the API run this periodically; returns what it reaped.
 *
 * Why the locking is safe with any number of concurrent reapers: the expired rows are picked with
 * `FOR UPDATE SKIP LOCKED` in a CTE, so each row is locked by exactly one reaper and the others skip
 * it. A reaper that read the row before another reaper's commit re-checks it under the lock
 * (EvalPlanQual) and drops it, since it is no longer `running`. The reap changes the lease token
 * (to null), so the expired worker's next fenced write matches nothing. Bounded by `limit` per call so a
 * mass expiry is worked off in short transactions.
 *
 * `restartGraceS`: nothing is reaped until the server has been up that long (workers pass 2 × LEASE_S). Leases run
 * out while the server itself is down (a crash restart, a failover), through no fault of their workers,
 * which renew within a heartbeat of its return; reaping them at once would spend an attempt per outage.
 *
 * @example
 * const reaped = await reapExpiredRuns(sql);
 */
export async function reapExpiredRuns(sql: postgres.Sql, limit = 100, restartGraceS = 0): Promise<ReapedRun[]> {
  const error = { code: "lease_expired", message: "The worker stopped renewing its lease" } as const;
  const f = retryFragments(sql, error, true);
  const rows = await sql<(ReapedRun & { seq: number })[]>`
    with cur as (
      select * from runs
      where state = 'running' and lease_expires_at < now()
        and pg_postmaster_start_time() < now() - make_interval(secs => ${restartGraceS}::double precision)
      order by lease_expires_at
      limit ${limit}
      for update skip locked
    ), decided as (
      select cur.id, cur.worker_id as old_worker, cur.lease_expires_at as expired_at,
        ${f.nextState} as next_state, ${f.runError} as run_error, ${f.backoff} as backoff
      from cur
    ), r as (
      update runs set
        state = d.next_state,
        error = d.run_error || jsonb_build_object('detail', coalesce(d.run_error -> 'detail', '{}'::jsonb)
          || jsonb_build_object('workerId', d.old_worker, 'leaseExpiredAt', d.expired_at)),
        run_after = case when d.next_state = 'queued' then d.backoff else runs.run_after end,
        finished_at = case when d.next_state = 'queued' then null else now() end,
        lease_token = null, lease_expires_at = null, last_seq = runs.last_seq + 1
      from decided d where runs.id = d.id
      returning runs.id, runs.state, runs.attempt, runs.worker_id, runs.last_seq, runs.run_after, runs.error,
        d.old_worker, d.expired_at
    ), logged as (
      update run_attempts a set ended_at = now(), outcome = 'lease_expired',
        error = jsonb_build_object('code', 'lease_expired',
          'message', 'Worker ' || r.old_worker || ' stopped renewing its lease; it expired at ' || r.expired_at,
          'detail', jsonb_build_object('workerId', r.old_worker, 'leaseExpiredAt', r.expired_at))
      from r where a.run_id = r.id and a.attempt = r.attempt
    ), event as (
      insert into run_events (run_id, seq, type, payload)
      select id, last_seq, 'state', jsonb_strip_nulls(jsonb_build_object('state', state, 'attempt', attempt,
        'workerId', worker_id, 'reason', 'lease_expired', 'error', error,
        'runAfter', case when state = 'queued' then to_jsonb(run_after) end))
      from r
    ), freed as (
      update workers w set current_run_id = null from r where w.current_run_id = r.id and w.id = r.old_worker
    )
    select id as "runId", attempt, state, old_worker as "workerId", last_seq::float8 as seq from r`;
  announceRunEvents(sql, rows);
  return rows.map(({ seq: _seq, ...reaped }) => reaped);
}
