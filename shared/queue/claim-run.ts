import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";
import type { ClaimedRun } from "./queue-types.ts";

export interface ClaimOptions {
  workerId: string;
  /** Lease length in seconds; the expiry is computed from the database clock. */
  leaseS: number;
}

/**
 * Claims the most urgent claimable run (priority, then submission order) for `workerId`, or returns null.
 *
 * Why the locking is safe: the run is picked in a CTE with `FOR UPDATE SKIP LOCKED LIMIT 1`, so the
 * planner evaluates the pick once (a subquery in the UPDATE's WHERE may be re-run per row and lock
 * several) and concurrent claimers skip each other's row instead of queueing behind it. A claimer whose
 * snapshot still saw a row as queued after another claimer committed re-checks it under the lock
 * (READ COMMITTED's EvalPlanQual) and drops it, because `state = 'queued'` no longer holds. The claim
 * log row (run_attempts, primary key run + attempt) and the `running` event are written by the same
 * statement, so a claim either happened with its log entry and event or not at all. The lease expiry
 * comes from `now()` on the server, so a worker with a wrong clock cannot hold a run longer.
 * `recordedEpoch` (the run's last recorded epoch) is a plain read of `epoch_metrics` through its primary
 * key: every record is fenced by the lease, so all of the run's records committed before it went back to
 * the queue, which in practice this statement's snapshot sees. (Under READ COMMITTED the row lock may
 * land on a newer version than the snapshot's: a whole further attempt, claimed, recorded and
 * requeued within this one statement, would be missed; nothing that fast exists.)
 *
 * @example
 * const run = await claimRun(sql, { workerId: "host-123-ab12", leaseS: 30 });
 * if (run) console.log(run.runId, run.attempt, run.checkpointPath);
 */
export async function claimRun(sql: postgres.Sql, opts: ClaimOptions): Promise<ClaimedRun | null> {
  const [run] = await claimRunStatement(sql, opts);
  if (run === undefined) return null;
  announceRunEvents(sql, [{ runId: run.runId, seq: run.lastSeq }]);
  return run;
}

/**
 * The claim as an unexecuted statement, so that a test can EXPLAIN exactly what {@link claimRun} sends.
 *
 * Why the ORDER BY spells out NULLS LAST: it must match `runs_claimable_idx` (priority DESC NULLS LAST,
 * submit_seq) word for word. `priority desc` alone means NULLS FIRST, and the planner does not use a
 * NOT NULL constraint to see that both orders are the same: it then reads every queued row and sorts
 * them, a cost that grows with the backlog (12 ms per claim at 20,000 queued) instead of one index probe.
 */
export function claimRunStatement(sql: postgres.Sql, opts: ClaimOptions): postgres.PendingQuery<ClaimedRun[]> {
  return sql<ClaimedRun[]>`
    with ${claimCtes(sql, opts)}, busy as (
      update workers set state = 'busy', current_run_id = claimed.id, last_seen_at = now()
      from claimed where workers.id = ${opts.workerId}
    )
    select ${claimedColumns(sql)} from claimed`;
}

/**
 * The claim's common table expressions, for {@link claimRunStatement} and for a completion that claims
 * the worker's next run in its own statement (complete-run.ts): `next_run` (the pick), `claimed` (the
 * run's new row), `claim_logged` (its run_attempts row) and `claim_event` (its `running` event). The
 * worker row is the caller's to update (a statement may update it once). `onlyIf` (SQL, e.g.
 * `exists (select 1 from r)`) gates the pick: false, nothing is claimed.
 */
export function claimCtes(sql: postgres.Sql, opts: ClaimOptions, onlyIf: postgres.Fragment = sql`true`): postgres.Fragment {
  return sql`next_run as (
      select id from runs
      where state = 'queued' and run_after <= now() and ${onlyIf}
      order by priority desc nulls last, submit_seq
      limit 1
      for update skip locked
    ), claimed as (
      update runs r set
        state = 'running',
        attempt = r.attempt + 1,
        lease_token = gen_random_uuid(),
        worker_id = ${opts.workerId},
        lease_expires_at = now() + make_interval(secs => ${opts.leaseS}::double precision),
        started_at = coalesce(r.started_at, now()),
        last_seq = r.last_seq + 1
      from next_run where r.id = next_run.id
      returning r.*
    ), claim_logged as (
      insert into run_attempts (run_id, attempt, worker_id, lease_token, claimed_at)
      select id, attempt, worker_id, lease_token, now() from claimed
    ), claim_event as (
      insert into run_events (run_id, seq, type, payload)
      select id, last_seq, 'state', jsonb_build_object('state', 'running', 'attempt', attempt, 'workerId', worker_id)
      from claimed
    )`;
}

/** The {@link ClaimedRun} read from the `claimed` CTE's row. */
export function claimedColumns(sql: postgres.Sql): postgres.Fragment {
  return sql`claimed.id as "runId", claimed.attempt, claimed.lease_token as "leaseToken",
      claimed.worker_id as "workerId", claimed.name, claimed.spec, claimed.epochs,
      claimed.max_attempts as "maxAttempts", claimed.releases, claimed.lease_expires_at as "leaseExpiresAt",
      claimed.checkpoint_path as "checkpointPath", claimed.checkpoint_epoch as "checkpointEpoch",
      claimed.last_seq::float8 as "lastSeq",
      greatest(claimed.checkpoint_epoch, (select max(m.epoch) from epoch_metrics m where m.run_id = claimed.id), 0)
        as "recordedEpoch"`;
}
