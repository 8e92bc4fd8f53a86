/**
 * The worker-only settings, on top of the shared configuration (shared/config.ts): which trainer
 * to run and the fake trainer's pace. Parsed once at start; invalid values stop the worker with a
 * message naming the variable.
 *
 * @example
 * const options = loadWorkerOptions(process.env); // { TRAINER: "real", FAKE_BATCH_MS: 20, ... }
 */
import { z } from "zod";
import { parseEnv } from "../shared/config.ts";

export const workerOptionsSchema = z.object({
  /** `real` trains with TensorFlow.js; `fake` is the queue's test double (worker/fake-trainer.ts). */
  TRAINER: z.enum(["real", "fake"]).default("real"),
  /** A stable id (e.g. per GPU slot); default host-pid-random, new on every start. */
  WORKER_ID: z.string().trim().regex(/^[A-Za-z0-9_.:-]{1,100}$/, "letters, digits and _.:- only, at most 100").optional(),
  /**
   * `off`: poll only, no LISTEN connection (for a connection pooler in transaction mode, which drops
   * LISTEN; and to measure polling). Cancels are then seen by the heartbeat.
   */
  LISTEN: z.enum(["on", "off"]).default("on"),
  FAKE_BATCH_MS: z.coerce.number().int().min(0).max(600_000).default(20),
  FAKE_BATCHES: z.coerce.number().int().min(1).max(100_000).default(5),
  /** Milliseconds each fake batch blocks the main thread synchronously (a tfjs step does), default 0. */
  FAKE_BLOCK_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  /** Padding bytes in each fake checkpoint, to give it a real size (full-disk tests), default 0. */
  FAKE_CHECKPOINT_BYTES: z.coerce.number().int().min(0).max(1 << 30).default(0),
  /**
   * Milliseconds a fake run spends after its last epoch, before it completes (where the real trainer
   * evaluates the test set), default 0.
   */
  FAKE_FINAL_MS: z.coerce.number().int().min(0).max(600_000).default(0),
});

export type WorkerOptions = z.output<typeof workerOptionsSchema>;

export function loadWorkerOptions(env: Record<string, string | undefined>): WorkerOptions {
  return parseEnv(workerOptionsSchema, env);
}
