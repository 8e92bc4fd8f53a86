import type postgres from "postgres";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease, RunError } from "./queue-types.ts";

/** Payload of a `checkpoint_damaged` event. */
export interface DamagedCheckpointPayload {
  attempt: number;
  /** Each unusable checkpoint and why (checksum mismatch, missing, ...). */
  damaged: { ref: string; problem: string }[];
  /** The checkpoint the attempt resumes from instead, or null: it starts over. */
  resumedFrom: string | null;
  /** Epochs in `resumedFrom` (0 when starting over); later epochs are trained again, not reported again. */
  resumedEpoch: number;
}

/**
 * Says, durably, that this attempt found the run's checkpoint damaged and what it does instead: a
 * `checkpoint_damaged` event for subscribers, and the same note as this attempt's error in the run's
 * error history (`run_attempts.error`, code "checkpoint_damaged"), which a later outcome overwrites only
 * if the attempt itself fails. Throws {@link LeaseLostError} when the run is no longer this claim's.
 *
 * Why the locking is safe: as in append-event.ts, one statement led by the fenced UPDATE of the run
 * row; the event and the attempt note read from its RETURNING, so a fenced-off worker writes nothing.
 *
 * @example
 * await noteDamagedCheckpoint(sql, lease, { attempt: 2, damaged: [{ ref, problem }], resumedFrom: null, resumedEpoch: 0 }, error);
 */
export async function noteDamagedCheckpoint(
  sql: postgres.Sql,
  lease: Lease,
  payload: DamagedCheckpointPayload,
  error: RunError,
): Promise<number> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set last_seq = last_seq + 1
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, attempt, last_seq
    ), event as (
      insert into run_events (run_id, seq, type, payload)
      select r.id, r.last_seq, 'checkpoint_damaged', ${sql.json(payload as unknown as postgres.JSONValue)} from r
    ), noted as (
      update run_attempts a set error = ${sql.json(error as unknown as postgres.JSONValue)}
      from r where a.run_id = r.id and a.attempt = r.attempt
    )
    select last_seq as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "noting a damaged checkpoint");
  return Number(row.seq);
}
