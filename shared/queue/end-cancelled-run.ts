import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

/**
 * Ends a running run `cancelled` once its worker has stopped at a batch boundary after a cancel request
 * (and checkpointed through setCheckpoint, so the partial training is not lost). Throws {@link LeaseLostError} when the run
 * is no longer this claim's.
 *
 * Why the locking is safe: one fenced UPDATE; the claim log, event and worker row read from its
 * RETURNING. It requires `cancel_requested_at` to be set, so a worker bug cannot cancel a run nobody
 * cancelled.
 *
 * @example
 * await endCancelledRun(sql, lease);
 */
export async function endCancelledRun(sql: postgres.Sql, lease: Lease): Promise<void> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set state = 'cancelled', finished_at = now(),
        lease_token = null, lease_expires_at = null, last_seq = last_seq + 1
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running' and cancel_requested_at is not null
      returning id, attempt, worker_id, last_seq
    )${attemptEndTail(sql, {
    outcome: sql`'cancelled'`,
    payload: sql`jsonb_build_object('state', 'cancelled', 'attempt', attempt, 'workerId', worker_id, 'reason', 'cancel_requested')`,
    workerId: lease.workerId,
    workerState: "idle",
  })}
    select last_seq::float8 as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "ending the cancelled run");
  announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq }]);
}
