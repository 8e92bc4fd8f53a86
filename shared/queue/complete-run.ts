import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

/**
 * Ends a run `succeeded` after its last epoch was recorded: closes the claim log entry, appends the
 * `state` event and frees the worker row, in one statement. Throws {@link LeaseLostError} when the run
 * is no longer this claim's (then nothing is written).
 *
 * Why the locking is safe: the fenced UPDATE (id + attempt + token + state running) is the only
 * statement that can succeed for this claim; every other write reads from its RETURNING. The state
 * trigger forbids leaving a terminal state, so a stale worker cannot finish a run twice.
 *
 * @example
 * await completeRun(sql, lease);
 */
export async function completeRun(sql: postgres.Sql, lease: Lease): Promise<void> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set state = 'succeeded', finished_at = now(), error = null, lease_token = null,
        lease_expires_at = null, last_seq = last_seq + 1
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, attempt, worker_id, last_seq
    )${attemptEndTail(sql, {
    outcome: sql`'succeeded'`,
    payload: sql`jsonb_build_object('state', 'succeeded', 'attempt', attempt, 'workerId', worker_id)`,
    workerId: lease.workerId,
    workerState: "idle",
  })}
    select last_seq::float8 as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "completing the run");
  announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq }]);
}
