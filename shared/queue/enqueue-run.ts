import type postgres from "postgres";

export interface NewRun {
  name?: string | null;
  /** The validated, defaulted run spec (shared/run-spec.ts). */
  spec: unknown;
  /** The schedule's last epoch. */
  epochs: number;
  priority?: number;
  maxAttempts?: number;
  tags?: string[];
}

/**
 * Inserts runs `queued` in one statement and returns their ids in order. The `runs_notify_queued`
 * trigger wakes idle workers when the transaction commits (once per transaction, however many runs).
 * The API inserts runs its own way (idempotency keys, sweeps); this is the queue's minimal door, used by
 * tests and benchmarks.
 *
 * @example
 * const [id] = await enqueueRuns(sql, [{ spec, epochs: 34 }]);
 */
export async function enqueueRuns(sql: postgres.Sql, runs: readonly NewRun[]): Promise<string[]> {
  if (runs.length === 0) return [];
  const rows = runs.map((r) => ({
    name: r.name ?? null,
    spec: r.spec,
    epochs: r.epochs,
    priority: r.priority ?? 0,
    max_attempts: r.maxAttempts ?? 3,
    tags: r.tags ?? [],
  }));
  const inserted = await sql<{ id: string }[]>`
    insert into runs (name, spec, epochs, priority, max_attempts, tags)
    select x.name, x.spec, x.epochs, x.priority, x.max_attempts, array(select jsonb_array_elements_text(x.tags))
    from jsonb_to_recordset(${sql.json(rows as never)}::jsonb)
      as x(name text, spec jsonb, epochs int, priority int, max_attempts int, tags jsonb)
    returning id`;
  return inserted.map((r) => r.id);
}
