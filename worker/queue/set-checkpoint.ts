import type postgres from "postgres";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { CheckpointPointer, Lease } from "./queue-types.ts";

/**
 * Points the run at a checkpoint file that is already durable. Call it only after the file is written
 * (and fsynced): a crash between the two leaves the pointer at the previous checkpoint, and the next
 * attempt resumes from there. Throws {@link LeaseLostError} when the run is no longer this claim's; the
 * caller then deletes its file, which nothing points at.
 *
 * Why the locking is safe: one fenced UPDATE. A worker fenced off after writing its file cannot make
 * the run resume from it, because checkpoint files are named per attempt and only this UPDATE makes one
 * the run's resume point.
 *
 * @example
 * await setCheckpoint(sql, lease, { path: "/ck/r1/a2-e3-b0.ckpt", epoch: 3 });
 */
export async function setCheckpoint(sql: postgres.Sql, lease: Lease, checkpoint: CheckpointPointer): Promise<void> {
  const rows = await sql`
    update runs set checkpoint_path = ${checkpoint.path}, checkpoint_epoch = ${checkpoint.epoch}
    where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
      and state = 'running'
    returning id`;
  if (rows.length === 0) throw new LeaseLostError(lease, "moving the checkpoint pointer");
}
