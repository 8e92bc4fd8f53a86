import type postgres from "postgres";
import { parseRunSpec, type RunSpec, type RunSpecInput, specEpochs } from "../run-spec.ts";
import { formatIssues } from "../issue.ts";

/** A run to insert: every column comes from its spec, plus where it belongs. */
export interface NewRun {
  /** The validated, defaulted spec (parseRunSpec's output): name, priority, tags, attempts and epochs come from it. */
  spec: RunSpec;
  sweepId?: string | null;
  /**
   * POST /v1/runs's Idempotency-Key and the hash of its request: a run whose key is already taken is
   * not inserted (its id comes back null) and the caller looks the holder up.
   */
  idempotency?: { key: string; requestHash: string };
}

/**
 * The one insert of runs: the API's POST /v1/runs (with its idempotency key), a sweep's runs, a retry,
 * and the queue's tests and benchmarks all come through here, so every stored spec is a parsed RunSpec
 * and every derived column is computed one way (the spec's numbers and `epochs` by Postgres, generated
 * columns; name, priority, tags and attempts from the spec here). One statement whatever the count (the rows travel as
 * one JSON text parameter, so a 1,000-run sweep stays far from Postgres's 65,535 bind parameters; typed
 * text, because the API's client has drizzle's serializers, which sql.json does not survive, while a plain
 * client would encode a string sent as jsonb once more); run i is
 * created at the transaction's time + i µs, so listings by time keep the given order (now() is the same
 * for the whole transaction, and ids are random). New runs are `queued`: the `runs_notify_queued`
 * trigger wakes idle workers once the transaction commits.
 *
 * Concurrent inserts with one idempotency key are safe: the unique index makes all but one wait for the
 * first to commit and then insert nothing (ON CONFLICT never fires for a NULL key).
 *
 * @returns the new ids in order; null for a run whose idempotency key was taken.
 *
 * @example
 * const [id] = await insertRuns(sql, [{ spec }]);
 */
export async function insertRuns(sql: postgres.Sql, runs: readonly NewRun[]): Promise<(string | null)[]> {
  if (runs.length === 0) return [];
  const keys = runs.flatMap((r) => (r.idempotency === undefined ? [] : [r.idempotency.key]));
  // The ids are matched back to the runs by the keys that went in: one key per batch at most.
  if (new Set(keys).size !== keys.length) throw new TypeError("insertRuns: an idempotency key appears twice in one batch");
  const rows = runs.map((r, i) => ({
    i,
    name: r.spec.name ?? null,
    spec: r.spec,
    priority: r.spec.priority,
    max_attempts: r.spec.maxAttempts,
    tags: r.spec.tags,
    sweep_id: r.sweepId ?? null,
    idempotency_key: r.idempotency?.key ?? null,
    request_hash: r.idempotency?.requestHash ?? null,
  }));
  const inserted = await sql<{ id: string; idempotency_key: string | null }[]>`
    insert into runs (name, spec, priority, max_attempts, tags, sweep_id, idempotency_key, request_hash, created_at)
    select x.name, x.spec, x.priority, x.max_attempts, array(select jsonb_array_elements_text(x.tags)),
      x.sweep_id, x.idempotency_key, x.request_hash, now() + make_interval(secs => x.i / 1e6)
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
      as x(i int, name text, spec jsonb, priority int, max_attempts int, tags jsonb, sweep_id uuid,
        idempotency_key text, request_hash text)
    order by x.i
    on conflict (idempotency_key) do nothing
    returning id, idempotency_key`;
  if (inserted.length === runs.length) return inserted.map((r) => r.id);
  // Some keys were taken. RETURNING gives the inserted rows in insertion order (the ORDER BY's), so walk
  // the runs in order: a keyed run whose key is not among the inserted ones was skipped, every other
  // run takes the next inserted row (a run without a key never conflicts).
  const insertedKeys = new Set(inserted.map((r) => r.idempotency_key));
  let next = 0;
  return runs.map((r) => (r.idempotency !== undefined && !insertedKeys.has(r.idempotency.key) ? null : inserted[next++]!.id));
}

/** A run for the queue's tests and benchmarks: a partial spec (defaults filled in), or just its length. */
export interface TestRun {
  name?: string;
  /** Spec fields; the schedule defaults to a flat one of `epochs` epochs. */
  spec?: Partial<RunSpecInput>;
  /** The schedule's length when `spec.schedule` is not given (default 1). */
  epochs?: number;
  priority?: number;
  maxAttempts?: number;
  sweepId?: string | null;
}

/**
 * The tests' door to the queue: each run's spec is parsed and defaulted like the API's (an invalid one
 * throws, naming the problem) and inserted by {@link insertRuns}. Returns the ids in order.
 *
 * @example
 * const [id] = await enqueueRuns(sql, [{ epochs: 3, maxAttempts: 1 }]);
 */
export async function enqueueRuns(sql: postgres.Sql, runs: readonly TestRun[]): Promise<string[]> {
  const specs = runs.map((r) => {
    const input = {
      schedule: `[1e-3, 0]lin[1e-3, ${r.epochs ?? 1}]`,
      ...r.spec,
      ...(r.name === undefined ? {} : { name: r.name }),
      ...(r.priority === undefined ? {} : { priority: r.priority }),
      ...(r.maxAttempts === undefined ? {} : { maxAttempts: r.maxAttempts }),
    };
    const parsed = parseRunSpec(input);
    if (!parsed.ok) throw new TypeError(`enqueueRuns: invalid spec: ${formatIssues(parsed.issues)}`);
    if (r.epochs !== undefined && specEpochs(parsed.spec) !== r.epochs) {
      throw new RangeError(`enqueueRuns: epochs ${r.epochs} disagrees with the schedule's ${specEpochs(parsed.spec)}`);
    }
    return { spec: parsed.spec, sweepId: r.sweepId ?? null };
  });
  return (await insertRuns(sql, specs)) as string[];
}
