import type postgres from "postgres";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { CheckpointPointer, Lease } from "./queue-types.ts";

/**
 * The new `checkpoint_previous` when the pointer moves to `checkpoint`: the one the caller names (it
 * knows which checkpoint it resumed from, which may not be the damaged one the pointer still holds), or
 * else the checkpoint being replaced. Unchanged when nothing moves.
 */
export function previousSql(sql: postgres.Sql, checkpoint: CheckpointPointer | null): postgres.Fragment {
  if (checkpoint === null) return sql`checkpoint_previous`;
  if (checkpoint.previous !== undefined) return sql`${checkpoint.previous}::text`;
  return sql`case when checkpoint_path is distinct from ${checkpoint.path}::text then checkpoint_path else checkpoint_previous end`;
}

/**
 * Points the run at a checkpoint that is already durable (a stop's checkpoint; an epoch's moves with its
 * record, record-epoch.ts), keeping the one before as the fallback. Call it only after the file is written
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
    update runs set checkpoint_previous = ${previousSql(sql, checkpoint)},
      checkpoint_path = ${checkpoint.path}, checkpoint_epoch = ${checkpoint.epoch}
    where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
      and state = 'running'
    returning id`;
  if (rows.length === 0) throw new LeaseLostError(lease, "moving the checkpoint pointer");
}
