/**
 * The shapes that cross the queue's boundary: what a claim hands a worker, what a fenced write must
 * present, and the JSON payloads of durable run events (the live streams send them as
 * `{ type, runId, seq, ...payload }`). Row types derive from the drizzle schema, never twins of it.
 */
import type { runs } from "../db/schema.ts";
import type { RunState } from "../run-states.ts";
import type { EpochMetricsRow } from "../epoch-metrics.ts";

type RunRow = typeof runs.$inferSelect;

/**
 * What a worker must present with every write: the run, the claim number and the claim's random
 * token. A write that matches no `running` row with all three has been fenced off: the run was reaped,
 * released or cancelled and perhaps claimed again by someone else.
 */
export interface Lease {
  runId: string;
  attempt: number;
  leaseToken: string;
  workerId: string;
}

/** A run as its claim returns it: everything the worker needs to train it. */
export interface ClaimedRun extends Lease {
  name: RunRow["name"];
  /** As stored; the runner parses it again (defaults a row stored by an older version; a hand-edited one fails invalid_spec). */
  spec: RunRow["spec"];
  epochs: RunRow["epochs"];
  maxAttempts: RunRow["maxAttempts"];
  releases: RunRow["releases"];
  leaseExpiresAt: Date;
  /** The last good checkpoint (written by an earlier attempt), or null to start from scratch. */
  checkpointPath: RunRow["checkpointPath"];
  checkpointEpoch: RunRow["checkpointEpoch"];
  /**
   * The highest epoch the run has already recorded (metrics row and `epoch` event), 0 for none. It can
   * be past `checkpointEpoch`: the final epoch is recorded without a checkpoint (run-checkpoints.ts), so
   * a crash after it resumes from the epoch before and trains the final one again without reporting it.
   */
  recordedEpoch: number;
  /** The seq of the claim's own `running` event (progress messages carry the last durable seq). */
  lastSeq: RunRow["lastSeq"];
}

/** Why an attempt or a run ended badly; kept per attempt in run_attempts.error and on the run. */
export interface RunError {
  /** What callers branch on. */
  code: RunErrorCode;
  message: string;
  /** Extra facts (epoch, batch, the error's name), for people. */
  detail?: Record<string, unknown>;
}

export type RunErrorCode =
  /** Loss became NaN or infinite: the run's own fault, never retried. */
  | "diverged"
  | "invalid_spec"
  | "invalid_data"
  | "out_of_memory"
  /** The checkpoint does not fit the run's spec or model. */
  | "checkpoint_mismatch"
  /**
   * A checkpoint failed its checksum (truncated, overwritten) or is missing: noted when the run falls
   * back to an older one; never a failure by itself.
   */
  | "checkpoint_damaged"
  /** A checkpoint that passed its checksum cannot be decoded: a resume can never work, so no retry. */
  | "checkpoint_unloadable"
  /** The trainer threw something unexpected: counted as an infrastructure failure and retried. */
  | "crashed"
  /** The worker stopped renewing its lease (killed, stopped, partitioned). */
  | "lease_expired"
  /** A retryable failure happened on the last allowed attempt. */
  | "attempts_exhausted";

/** Payload of a `state` event: one per state change, in the same statement as the change. */
export interface StateEventPayload {
  state: RunState;
  attempt: number;
  workerId: string | null;
  /** Why the run left `running` when it did not simply finish: "released", "lease_expired", ... */
  reason?: string;
  error?: RunError;
  /** When a failed attempt is retried: not claimable before this time (ISO). */
  runAfter?: string;
}

/** One finished epoch, as the trainer reports it: the stored row without the attempt that writes it. */
export type EpochMetrics = Omit<EpochMetricsRow, "attempt">;

/** Payload of an `epoch` event: the metrics row as written, with the attempt that wrote it. */
export interface EpochEventPayload extends EpochMetrics {
  attempt: number;
}

/** A checkpoint the worker has written durably and now wants the run to point at. */
export interface CheckpointPointer {
  path: string;
  /** Epochs fully contained in it (a mid-epoch drain checkpoint holds the epochs before it). */
  epoch: number;
  /**
   * The good checkpoint to keep as the fallback (`runs.checkpoint_previous`): the one this attempt
   * resumed from or last wrote. Omitted: whichever the pointer held before.
   */
  previous?: string | null;
}
