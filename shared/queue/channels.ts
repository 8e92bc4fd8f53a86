/**
 * NOTIFY channels: `runs_queued` and `run_cancel` are sent by triggers (migrations/0003_queue_notify.sql),
 * `run_events` by each event's writer after its commit (announce-run-events.ts, issue 19). Their payloads
 * are ids only; listeners read the rows.
 */
export const CHANNELS = {
  /** A run became claimable now (empty payload). */
  runsQueued: "runs_queued",
  /** A running run was asked to cancel (payload: run id). */
  runCancel: "run_cancel",
  /** A run event was committed (payload: JSON `{ "runId", "seq" }`). */
  runEvents: "run_events",
} as const;
