import type postgres from "postgres";
import type { ModelWeights, StoredModel } from "../model-artifact.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

/** One exported network of a run, as the worker writes it. */
export interface RunModelWrite {
  weights: ModelWeights;
  epoch: number;
  valAcc: number;
  valLoss: number;
  /** model.json without its shard list (shared/model-artifact.ts). */
  stored: StoredModel;
  /** float32 weight bytes in `stored.weightSpecs` order. */
  data: Uint8Array;
}

/** The test-set figures of the run's weights, written with the final weights. */
export interface TestFigures {
  acc: number;
  loss: number;
}

/**
 * Stores a run's best or final weights (one row per run and kind, replaced by a later write), fenced by
 * the lease. `test.own` are the row's own test-set figures; with the final weights, `test.best` sets
 * the best row's in the same statement. Throws {@link LeaseLostError} (and writes nothing) when the run is no longer this claim's.
 *
 * Why the locking is safe: the CTE first locks the run row `FOR NO KEY UPDATE` only if it is still this
 * claim's running row; every write reads from it, so a fenced-off worker writes nothing. The lock is
 * held until this one statement commits, so a reaper that moves the run meanwhile waits and the row
 * written belongs to an attempt that owned the run when it was written. Nothing is held between
 * statements. No `runs` column changes, so no state trigger or NOTIFY fires.
 *
 * @example
 * await saveRunModel(sql, lease, { weights: "best", epoch: 7, valAcc: 0.91, valLoss: 0.3, stored, data });
 * await saveRunModel(sql, lease, finalModel, { own: { acc: 0.9, loss: 0.4 }, best: { acc: 0.91, loss: 0.38 } });
 */
export async function saveRunModel(
  sql: postgres.Sql,
  lease: Lease,
  m: RunModelWrite,
  test: { own?: TestFigures | null; best?: TestFigures | null } = {},
): Promise<void> {
  const own = test.own ?? null;
  const best = test.best ?? null;
  if (best !== null && m.weights === "best") throw new TypeError("saveRunModel: pass the best row's test figures as `own`");
  const rows = await sql<{ id: string }[]>`
    with r as (
      select id from runs
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      for no key update
    ), saved as (
      insert into run_models (run_id, weights_kind, epoch, val_acc, val_loss, test_acc, test_loss, model, weights, attempt)
      select r.id, ${m.weights}, ${m.epoch}, ${m.valAcc}, ${m.valLoss}, ${own?.acc ?? null}::double precision,
        ${own?.loss ?? null}::double precision, ${sql.json(m.stored as unknown as postgres.JSONValue)},
        ${Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)}, ${lease.attempt}
      from r
      on conflict (run_id, weights_kind) do update set
        epoch = excluded.epoch, val_acc = excluded.val_acc, val_loss = excluded.val_loss, test_acc = excluded.test_acc,
        test_loss = excluded.test_loss, model = excluded.model, weights = excluded.weights, attempt = excluded.attempt,
        created_at = now()
    ), best as (
      update run_models b set test_acc = ${best?.acc ?? null}::double precision,
        test_loss = ${best?.loss ?? null}::double precision
      from r
      where ${best !== null} and b.run_id = r.id and b.weights_kind = 'best'
    )
    select id from r`;
  if (rows.length === 0) throw new LeaseLostError(lease, `storing the ${m.weights} model`);
}
