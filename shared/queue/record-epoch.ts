import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { CheckpointPointer, EpochMetrics, Lease } from "./queue-types.ts";
import { previousSql } from "./set-checkpoint.ts";

/**
 * Records one finished epoch: its metrics row, an `epoch` event with the next per-run seq, and the
 * pointer to the checkpoint that holds it, all or nothing. Returns the event's seq. Throws
 * {@link LeaseLostError} (and writes nothing) when the run is no longer this claim's.
 *
 * This is the whole of "epoch done": the checkpoint that holds the epoch must be durable before this is
 * called, and this one statement then records the metrics, the event and the pointer together, so an
 * epoch is reported exactly when its checkpoint became the run's. A crash before it redoes the epoch
 * unreported; a crash after it resumes past it. A redone epoch (a resume from an older checkpoint)
 * replaces its metrics row (one row per run and epoch); the runner avoids that by only moving the
 * pointer for epochs the run has already recorded (run-checkpoints.ts).
 *
 * Why the locking is safe: the fenced UPDATE of the run row comes first and takes its row lock, which
 * serialises every writer of this run; `last_seq + 1 ... RETURNING` allocates the seq under that lock,
 * so seqs are gap-free and never reused. The inserts read from the UPDATE's RETURNING, so a fenced-off
 * worker (zero rows) inserts nothing. One statement means one implicit transaction that the server
 * finishes even if the worker is frozen right after sending it: no lock is ever held on a worker's
 * behalf between statements, where a SIGSTOPped worker would block the reaper.
 *
 * @example
 * await recordEpoch(sql, lease, { epoch: 1, loss: 2.1, ... }, { path: "/ck/run/e1", epoch: 1 });
 */
export async function recordEpoch(
  sql: postgres.Sql,
  lease: Lease,
  m: EpochMetrics,
  checkpoint: CheckpointPointer | null,
): Promise<number> {
  const rows = await sql<{ seq: number }[]>`
    with r as (
      update runs set
        last_seq = last_seq + 1,
        checkpoint_previous = ${previousSql(sql, checkpoint)},
        checkpoint_path = coalesce(${checkpoint?.path ?? null}::text, checkpoint_path),
        checkpoint_epoch = coalesce(${checkpoint?.epoch ?? null}::integer, checkpoint_epoch)
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, last_seq
    )${epochRecordTail(sql, lease, m, sql`r.last_seq`)}
    select last_seq as seq from r`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, `recording epoch ${m.epoch}`);
  announceRunEvents(sql, [{ runId: lease.runId, seq: Number(row.seq) }]);
  return Number(row.seq);
}

/**
 * The CTEs that record epoch `m` after a fenced UPDATE of `runs` named `r` (returning the run's id): its
 * metrics row and its `epoch` event at `seq` (an SQL expression over `r`). recordEpoch and, for a final
 * epoch recorded with the run's end, completeRun share it. Everything reads from `r`, so a fenced-off
 * worker (no row in `r`) records nothing.
 */
export function epochRecordTail(sql: postgres.Sql, lease: Lease, m: EpochMetrics, seq: postgres.Fragment): postgres.Fragment {
  const payload = { ...m, attempt: lease.attempt };
  return sql`, epoch_row as (
      insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
      select r.id, ${m.epoch}, ${m.loss}, ${m.acc}, ${m.valLoss}, ${m.valAcc}, ${m.lr}, ${m.wd}, ${m.seconds},
        ${m.imagesPerSec}, ${lease.attempt}
      from r
      on conflict (run_id, epoch) do update set
        loss = excluded.loss, acc = excluded.acc, val_loss = excluded.val_loss, val_acc = excluded.val_acc,
        lr = excluded.lr, wd = excluded.wd, seconds = excluded.seconds, images_per_sec = excluded.images_per_sec,
        attempt = excluded.attempt, created_at = now()
    ), epoch_event as (
      insert into run_events (run_id, seq, type, payload)
      select r.id, ${seq}, 'epoch', ${sql.json(payload)} from r
    )`;
}
