import type postgres from "postgres";
import type { Lease } from "./queue-types.ts";

/**
 * The seq of the `epoch` event that this claim (run + attempt) recorded for `epoch`, or null if it has
 * not. A worker whose epoch write failed with a lost connection cannot know whether it committed (the
 * server may have committed and died before answering): it asks this before writing again, so a retry
 * never records (and streams) the same epoch twice. One attempt records each epoch at most once, so
 * (run, attempt, epoch) names the write.
 *
 * Why the locking is safe: a plain read. The event is inserted by the same statement that moves the
 * run's seq (record-epoch.ts), so it is visible exactly when that write committed; the retry that
 * follows a "not found" is itself fenced.
 *
 * @example
 * const seq = await findRecordedEpoch(sql, lease, 3) ?? await recordEpoch(sql, lease, m, null);
 */
export async function findRecordedEpoch(sql: postgres.Sql, lease: Lease, epoch: number): Promise<number | null> {
  const rows = await sql<{ seq: string }[]>`
    select seq from run_events
    where run_id = ${lease.runId} and type = 'epoch'
      and (payload ->> 'epoch')::int = ${epoch} and (payload ->> 'attempt')::int = ${lease.attempt}
    order by seq limit 1`;
  return rows[0] === undefined ? null : Number(rows[0].seq);
}
