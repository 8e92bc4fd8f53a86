import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { EpochMetrics, Lease } from "./queue-types.ts";
import { epochRecordTail } from "./record-epoch.ts";

/**
 * Ends a run `succeeded` after its last epoch: closes the claim log entry, appends the `state` event and
 * frees the worker row, in one statement. With `finalEpoch` (not recorded yet: the runner defers the
 * final epoch's record when the trainer returns at once, execute-run.ts), the same statement first
 * records it, metrics row and `epoch` event (seq n + 1, the `succeeded` event n + 2): one commit instead
 * of two. Returns that epoch event's seq, or null without `finalEpoch`. Throws {@link LeaseLostError}
 * when the run is no longer this claim's (then nothing is written).
 *
 * Why the locking is safe: the fenced UPDATE (id + attempt + token + state running) is the only
 * statement that can succeed for this claim; every other write reads from its RETURNING, so the final
 * epoch and the completion land together or not at all. The state trigger forbids leaving a terminal
 * state, so a stale worker cannot finish a run twice.
 *
 * @example
 * await completeRun(sql, lease);
 * const epochSeq = await completeRun(sql, lease, { epoch: 30, loss: 0.2, ... });
 */
export async function completeRun(sql: postgres.Sql, lease: Lease, finalEpoch: EpochMetrics | null = null): Promise<number | null> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set state = 'succeeded', finished_at = now(), error = null, lease_token = null,
        lease_expires_at = null, last_seq = last_seq + ${finalEpoch === null ? 1 : 2}
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, attempt, worker_id, last_seq
    )${finalEpoch === null ? sql`` : epochRecordTail(sql, lease, finalEpoch, sql`r.last_seq - 1`)}${attemptEndTail(sql, {
    outcome: sql`'succeeded'`,
    payload: sql`jsonb_build_object('state', 'succeeded', 'attempt', attempt, 'workerId', worker_id)`,
    workerId: lease.workerId,
    workerState: "idle",
  })}
    select last_seq::float8 as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "completing the run");
  if (finalEpoch === null) {
    announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq }]);
    return null;
  }
  announceRunEvents(sql, [{ runId: lease.runId, seq: row.seq - 1 }, { runId: lease.runId, seq: row.seq }]);
  return row.seq - 1;
}
