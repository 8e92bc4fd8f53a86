import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

/**
 * Hands a run back to the queue when its worker drains (SIGTERM/SIGINT): `queued`, claimable at once by
 * another worker, and the attempt is not spent (`releases + 1`). The checkpoint written at the batch
 * boundary is already the run's resume point (setCheckpoint moved the pointer before this). A cancel
 * that was pending turns the release into `cancelled`.
 * Throws {@link LeaseLostError} when the run is no longer this claim's.
 *
 * Why the locking is safe: one fenced UPDATE; everything else reads from its RETURNING, so a fenced-off
 * worker changes nothing. The `runs_queued` trigger NOTIFYs idle workers when it commits.
 *
 * @example
 * await releaseRun(sql, lease); // { state: "queued" }
 */
export async function releaseRun(sql: postgres.Sql, lease: Lease): Promise<{ state: "queued" | "cancelled" }> {
  const rows = await sql<{ state: "queued" | "cancelled"; seq: number }[]>`
    with r as (
      update runs set
        state = case when cancel_requested_at is null then 'queued' else 'cancelled' end,
        releases = releases + case when cancel_requested_at is null then 1 else 0 end,
        finished_at = case when cancel_requested_at is null then null else now() end,
        run_after = now(),
        lease_token = null, lease_expires_at = null, last_seq = last_seq + 1
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, state, attempt, worker_id, last_seq
    )${attemptEndTail(sql, {
    outcome: sql`case when r.state = 'queued' then 'released' else 'cancelled' end`,
    payload: sql`jsonb_build_object('state', state, 'attempt', attempt, 'workerId', worker_id,
      'reason', case when state = 'queued' then 'released' else 'cancelled' end)`,
    workerId: lease.workerId,
    workerState: "draining",
  })}
    select state, last_seq::float8 as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "releasing the run");
  announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq }]);
  return { state: row.state };
}
