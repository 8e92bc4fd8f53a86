import type postgres from "postgres";

/**
 * Deletes the Postgres-stored checkpoints (rows of `checkpoints`, their chunks by cascade) of runs that
 * ended: a finished run never resumes. Returns how many checkpoints went. Part of the reaper's periodic
 * pass (worker-loop.ts), not of every run's checkpoint collection: a run's own attempt deletes its rows
 * when it ends (run-checkpoints.ts), and this sweep catches what an attempt could not — runs ended by
 * the reaper (their last attempt died), a crash between ending a run and collecting, rows written by an
 * earlier attempt under CHECKPOINT_STORE=postgres that no pointer ever named. Issue 19: run on every
 * save, it was two statements per epoch and per finish even for workers that store files.
 *
 * Driven by the few checkpoint rows, one primary-key lookup into runs each: a join lets the planner
 * scan every run (the whole backlog and history).
 *
 * Why the locking is safe: a terminal state is final (the state trigger forbids leaving it), so a row
 * this sees as a finished run's can never be needed again; a run still queued or running is left alone
 * whatever its rows. Concurrent sweeps by several workers delete each row once: the second waits for the
 * first's row lock and then finds the row gone.
 *
 * @example
 * const deleted = await collectEndedCheckpoints(sql);
 */
export async function collectEndedCheckpoints(sql: postgres.Sql): Promise<number> {
  const result = await sql`
    delete from checkpoints c
    where (select r.state from runs r where r.id = c.run_id) in ('succeeded', 'failed', 'cancelled')`;
  return result.count;
}
