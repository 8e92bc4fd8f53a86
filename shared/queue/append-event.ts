import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

/**
 * Appends a durable event of `type` to a run this claim owns; returns its seq. Throws
 * {@link LeaseLostError} when the run is no longer this claim's. (State changes and epochs have their
 * own operations, which write their events in the same statement as the change.)
 *
 * Why the locking is safe: as in record-epoch.ts, the seq is allocated by the fenced UPDATE of the run
 * row, under its row lock, and the insert reads from its RETURNING: a fenced-off worker inserts nothing,
 * and two writers of one run cannot get the same seq.
 *
 * @example
 * const seq = await appendEvent(sql, lease, "log", { message: "resumed from epoch 3" });
 */
export async function appendEvent(
  sql: postgres.Sql,
  lease: Lease,
  type: string,
  payload: Record<string, unknown>,
): Promise<number> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set last_seq = last_seq + 1
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, last_seq
    ), event as (
      insert into run_events (run_id, seq, type, payload) select r.id, r.last_seq, ${type}, ${sql.json(payload as postgres.JSONValue)} from r
    )
    select last_seq as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, `appending a ${type} event`);
  announceRunEvents(sql, [{ runId: lease.runId, seq: Number(row.seq) }]);
  return Number(row.seq);
}
