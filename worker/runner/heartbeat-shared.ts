/**
 * What the main thread and the heartbeat thread (heartbeat-thread-main.ts) share: the layout of the
 * SharedArrayBuffers, the messages, and one clock. `process.hrtime` is the process's monotonic clock,
 * the same in every thread (each thread's `performance.now()` counts from its own start).
 *
 * Per held run, a 16-byte SharedArrayBuffer: Int32 [FLAGS] (FLAG_LOST | FLAG_CANCEL, set by the
 * thread), BigInt64 [DEADLINE] (monotonic ms until which the lease surely lasts). One more, for the
 * worker's lifetime: BigInt64 [ALIVE_AT] (monotonic ms when the main thread's event loop last turned).
 */
import type { Lease } from "../../shared/queue/queue-types.ts";
import type { LogLevel } from "../../shared/logger.ts";

export const FLAGS = 0;
export const FLAG_LOST = 1;
export const FLAG_CANCEL = 2;
export const DEADLINE = 1;
export const RUN_BYTES = 16;
export const ALIVE_AT = 0;
export const ALIVE_BYTES = 8;

/** Milliseconds on the process's monotonic clock (comparable across threads). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export interface HeartbeatThreadData {
  url: string;
  applicationName: string;
  leaseS: number;
  heartbeatS: number;
  /** Stop renewing when the main thread's event loop has not turned for this long. */
  stallMs: number;
  alive: SharedArrayBuffer;
}

/**
 * What one renewal learned: the lease was renewed; the database said the run is no longer ours; the
 * database could not be reached (an outage: nothing is known); or no renewal was made (nothing held,
 * the lease already lost, the main thread stalled).
 */
export type BeatOutcome = "renewed" | "lost" | "unreachable" | "skipped";

export type ToThread =
  | { type: "hold"; lease: Lease; shared: SharedArrayBuffer }
  | { type: "release"; runId: string; attempt: number }
  | { type: "beat"; id: number; lease: Lease; shared: SharedArrayBuffer }
  | { type: "close" };

export type FromThread =
  | { type: "ready" }
  | { type: "log"; line: string; level?: LogLevel }
  | { type: "lost"; runId: string; attempt: number; message: string }
  | { type: "beaten"; id: number; outcome: BeatOutcome }
  | { type: "closed" };
