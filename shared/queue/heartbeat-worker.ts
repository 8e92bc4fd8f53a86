import type postgres from "postgres";

/**
 * Says the worker is alive (an idle worker has no run lease to renew) and sets its state. Returns
 * false when the row is gone or was marked `gone` by a reaper, so the caller can register again.
 *
 * Why the locking is safe: a single-row UPDATE of the worker's own row; the reaper's `gone` marking
 * is conditioned on `last_seen_at`, so one of the two simply wins and the other sees the result.
 *
 * @example
 * if (!(await heartbeatWorker(sql, id, "idle"))) await registerWorker(sql, info);
 */
export async function heartbeatWorker(
  sql: postgres.Sql,
  workerId: string,
  state: "idle" | "busy" | "draining",
): Promise<boolean> {
  const rows = await sql`
    update workers set last_seen_at = now(), state = ${state}
    where id = ${workerId} and state <> 'gone'
    returning id`;
  return rows.length > 0;
}
