import type postgres from "postgres";

/**
 * Marks a worker `gone` as it exits cleanly, so listings do not show it until the reaper would.
 *
 * Why the locking is safe: a single-row UPDATE of the worker's own row.
 *
 * @example
 * await retireWorker(sql, workerId);
 */
export async function retireWorker(sql: postgres.Sql, workerId: string): Promise<void> {
  await sql`update workers set state = 'gone', current_run_id = null, last_seen_at = now() where id = ${workerId}`;
}
