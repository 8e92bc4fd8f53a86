/**
 * NOTIFY channels, sent by the triggers in migrations/0003_queue_notify.sql. Their payloads are ids
 * only; listeners read the rows.
 */
export const CHANNELS = {
  /** A run became claimable now (empty payload). */
  runsQueued: "runs_queued",
  /** A running run was asked to cancel (payload: run id). */
  runCancel: "run_cancel",
  /** A run event was appended (payload: JSON `{ "runId", "seq" }`). */
  runEvents: "run_events",
} as const;
