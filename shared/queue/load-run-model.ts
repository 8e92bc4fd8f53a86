import type postgres from "postgres";
import type { ModelWeights } from "../model-artifact.ts";

/**
 * A run's stored weights of one kind (the float32 bytes in its model's weightSpecs order) and the epoch
 * they are from, or null when none were stored (or they were pruned). A resuming worker reads its best weights with it: the
 * best epoch may have been trained by an earlier attempt. A plain read: rows only ever hold weights
 * that an owner of the run wrote.
 *
 * @example
 * const best = await loadRunModel(sql, runId, "best"); // { epoch: 7, data: Uint8Array } | null
 */
export async function loadRunModel(
  sql: postgres.Sql,
  runId: string,
  weights: ModelWeights,
): Promise<{ epoch: number; data: Uint8Array } | null> {
  const [row] = await sql<{ epoch: number; weights: Uint8Array }[]>`
    select epoch, weights from run_models where run_id = ${runId} and weights_kind = ${weights} and weights is not null`;
  return row === undefined ? null : { epoch: row.epoch, data: row.weights };
}
