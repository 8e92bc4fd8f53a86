import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease, RunError } from "./queue-types.ts";
import { retryFragments } from "./retry-policy.ts";

export interface FailResult {
  /** Where the run went: back to `queued` (a retry), `failed`, or `cancelled` (a cancel was pending). */
  state: "queued" | "failed" | "cancelled";
  runAfter: Date;
}

/**
 * Ends this attempt with `error`. A failure of the run itself (`retryable: false`: diverged, invalid
 * data, out of memory) ends the run `failed`; an infrastructure failure (`retryable: true`) re-queues it
 * with a jittered exponential backoff in `run_after` until max_attempts are spent, then fails it with
 * code "attempts_exhausted". The attempt's own error is kept in run_attempts.error either way. Throws
 * {@link LeaseLostError} when the run is no longer this claim's.
 *
 * Why the locking is safe: the fenced `SELECT ... FOR UPDATE` locks the one row this claim owns (or
 * finds none), and the UPDATE that follows in the same statement reads the locked values, so the retry
 * decision cannot race a reaper or a cancel: they wait for the lock, then see the new state.
 *
 * @example
 * await failRun(sql, lease, { code: "diverged", message: "loss is NaN at epoch 3 batch 17" }, { retryable: false });
 */
export async function failRun(
  sql: postgres.Sql,
  lease: Lease,
  error: RunError,
  opts: { retryable: boolean },
): Promise<FailResult> {
  const f = retryFragments(sql, error, opts.retryable);
  const rows = await sql<(FailResult & { seq: number })[]>`
    with cur as (
      select * from runs
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      for update
    ), decided as (
      select cur.id, ${f.nextState} as next_state, ${f.runError} as run_error, ${f.backoff} as backoff from cur
    ), r as (
      update runs set
        state = d.next_state,
        error = d.run_error,
        run_after = case when d.next_state = 'queued' then d.backoff else runs.run_after end,
        finished_at = case when d.next_state = 'queued' then null else now() end,
        lease_token = null, lease_expires_at = null, last_seq = runs.last_seq + 1
      from decided d where runs.id = d.id
      returning runs.id, runs.state, runs.attempt, runs.worker_id, runs.last_seq, runs.run_after, runs.error
    )${attemptEndTail(sql, {
    outcome: sql`'failed'`,
    error,
    payload: sql`jsonb_strip_nulls(jsonb_build_object('state', state, 'attempt', attempt,
      'workerId', worker_id, 'reason', ${error.code}::text, 'error', error,
      'runAfter', case when state = 'queued' then to_jsonb(run_after) end))`,
    workerId: lease.workerId,
    workerState: "idle",
  })}
    select state, run_after as "runAfter", last_seq::float8 as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "failing the attempt");
  announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq }]);
  return { state: row.state, runAfter: row.runAfter };
}
