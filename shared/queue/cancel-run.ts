import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";

export type CancelOutcome =
  /** It was queued: ended `cancelled` at once. */
  | "cancelled"
  /** It is running: `cancel_requested_at` is set and its worker is notified; it stops at a batch boundary. */
  | "requested"
  /** It had already finished (or a cancel was already pending): nothing changed. */
  | "unchanged"
  | "not_found";

/**
 * Cancels a run. A queued run ends `cancelled` at once (with its `state` event); a running run gets
 * `cancel_requested_at`, which the `runs_notify_cancel` trigger announces on channel `run_cancel` and
 * which the worker's next heartbeat also returns (the fallback when its LISTEN connection is down).
 *
 * Why the locking is safe: both branches are single UPDATEs conditioned on the state they expect. One
 * that races a claim either wins the row first (the claim then skips it, or re-checks under the lock
 * and finds it cancelled) or waits for the claim's commit, re-checks `state = 'queued'`, matches
 * nothing, and falls through to the running branch. If the run moved back to queued in between (a
 * release), the loop tries again. No interleaving lets a run be both claimed and ended.
 *
 * @example
 * await cancelRun(sql, runId); // "cancelled" | "requested" | "unchanged" | "not_found"
 */
export async function cancelRun(sql: postgres.Sql, runId: string): Promise<CancelOutcome> {
  for (let tries = 0; tries < 3; tries++) {
    const [queued] = await sql<{ id: string; seq: number }[]>`
      with r as (
        update runs set state = 'cancelled', finished_at = now(), last_seq = last_seq + 1
        where id = ${runId} and state = 'queued'
        returning id, attempt, worker_id, last_seq
      ), event as (
        insert into run_events (run_id, seq, type, payload)
        select id, last_seq, 'state', jsonb_build_object('state', 'cancelled', 'attempt', attempt, 'workerId', worker_id,
          'reason', 'cancel_requested')
        from r
      )
      select id, last_seq::float8 as seq from r`;
    if (queued !== undefined) {
      announceRunEvents(sql, [{ runId, seq: queued.seq }]);
      return "cancelled";
    }
    const [running] = await sql`
      update runs set cancel_requested_at = now()
      where id = ${runId} and state = 'running' and cancel_requested_at is null
      returning id`;
    if (running !== undefined) return "requested";
    const [row] = await sql<{ state: string; cancel_requested_at: Date | null }[]>`
      select state, cancel_requested_at from runs where id = ${runId}`;
    if (row === undefined) return "not_found";
    // Between the two UPDATEs the run may have moved from running back to queued (released, reaped):
    // try again rather than report a cancel that did not happen.
    if (row.state !== "queued") return "unchanged";
  }
  return "unchanged";
}
