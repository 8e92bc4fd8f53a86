import type { Lease } from "./queue-types.ts";

/**
 * A fenced write matched no row: this worker no longer owns the run (its lease expired and the run was
 * reaped, or it was cancelled and ended, or another worker holds it now). The worker must stop training
 * the run at once and write nothing more for it.
 */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
  constructor(readonly lease: Lease, readonly operation: string, message?: string) {
    super(
      message ??
        `Lost the lease on run ${lease.runId}: ${operation} matched no running row with attempt ${lease.attempt} ` +
          `and this worker's lease token, so the run was reaped, released or ended elsewhere`,
    );
  }
}
