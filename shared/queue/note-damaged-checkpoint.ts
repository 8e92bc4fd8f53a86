import type postgres from "postgres";
import { appendEvent } from "./append-event.ts";
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
 * `checkpoint_damaged` event for subscribers (append-event.ts), and the same note as this attempt's
 * error in the run's error history (`run_attempts.error`, code "checkpoint_damaged"), which a later
 * outcome overwrites only if the attempt itself fails. Throws {@link LeaseLostError} when the run is no
 * longer this claim's.
 *
 * Why the locking is safe: both writes are fenced. The event is allocated under the run row's lock
 * (append-event.ts); the note updates this attempt's own log row only while the claim still holds the
 * run, and a stale worker that gets past the first and not the second leaves only the event.
 *
 * @example
 * await noteDamagedCheckpoint(sql, lease, { attempt: 2, damaged: [{ ref, problem }], resumedFrom: null, resumedEpoch: 0 }, error);
 */
export async function noteDamagedCheckpoint(
  sql: postgres.Sql,
  lease: Lease,
  payload: DamagedCheckpointPayload,
  error: RunError,
): Promise<void> {
  await appendEvent(sql, lease, "checkpoint_damaged", { ...payload });
  const rows = await sql`
    update run_attempts a set error = ${sql.json(error as unknown as postgres.JSONValue)}
    from runs r
    where a.run_id = r.id and a.attempt = r.attempt and r.id = ${lease.runId} and r.attempt = ${lease.attempt}
      and r.lease_token = ${lease.leaseToken} and r.state = 'running'
    returning a.attempt`;
  if (rows.length === 0) throw new LeaseLostError(lease, "noting a damaged checkpoint");
}
