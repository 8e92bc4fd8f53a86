import type postgres from "postgres";

/**
 * Marks workers that have not been seen for `staleS` seconds (database clock) as `gone`; returns their
 * ids. Their runs are taken back by reap-expired-runs.ts through the runs' own leases, not here.
 *
 * Why the locking is safe: `FOR UPDATE SKIP LOCKED` in a CTE, as in the run reaper, so concurrent
 * reapers mark each worker once and never wait on a worker's own heartbeat.
 *
 * @example
 * await reapGoneWorkers(sql, 60);
 */
export async function reapGoneWorkers(sql: postgres.Sql, staleS: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    with stale as (
      select id from workers
      where state <> 'gone' and last_seen_at < now() - make_interval(secs => ${staleS}::double precision)
      for update skip locked
    )
    update workers w set state = 'gone', current_run_id = null from stale where w.id = stale.id
    returning w.id`;
  return rows.map((r) => r.id);
}
