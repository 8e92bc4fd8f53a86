/**
 * `run_models` for the model routes (written by workers, shared/queue/save-run-model.ts; pruned here):
 * the run's state with the stored model's figures, and byte ranges of its weights (one shard at a
 * time: Postgres cuts the range, so a 4 MiB shard never loads the whole weight column into the API).
 */
import type postgres from "postgres";
import { isTerminalState, type RunState } from "../../shared/run-states.ts";
import { type ModelWeights, SHARD_BYTES, type StoredModel, storedModelSchema } from "../../shared/model-artifact.ts";

export interface StoredRunModel {
  stored: StoredModel;
  epoch: number;
  valAcc: number;
  valLoss: number;
  testAcc: number | null;
  testLoss: number | null;
  byteLength: number;
}

/**
 * The run's state, and its stored model of that kind (null when none, or `pruned` when its weights were
 * pruned); null when the run does not exist.
 */
export async function findRunModel(
  sql: postgres.Sql,
  runId: string,
  weights: ModelWeights,
): Promise<{ state: RunState; model: StoredRunModel | null; pruned: boolean } | null> {
  const [row] = await sql<{
    state: RunState;
    model: unknown;
    epoch: number | null;
    val_acc: number | null;
    val_loss: number | null;
    test_acc: number | null;
    test_loss: number | null;
    bytes: number | null;
  }[]>`
    select r.state, m.model, m.epoch, m.val_acc, m.val_loss, m.test_acc, m.test_loss, octet_length(m.weights) as bytes
    from runs r left join run_models m on m.run_id = r.id and m.weights_kind = ${weights}
    where r.id = ${runId}`;
  if (row === undefined) return null;
  if (row.model === null || row.bytes === null) return { state: row.state, model: null, pruned: row.model !== null };
  return {
    state: row.state,
    pruned: false,
    model: {
      // Written by our own worker; parsing guards against a row from an incompatible version.
      stored: storedModelSchema.parse(typeof row.model === "string" ? JSON.parse(row.model) : row.model),
      epoch: row.epoch!,
      valAcc: row.val_acc!,
      valLoss: row.val_loss!,
      testAcc: row.test_acc,
      testLoss: row.test_loss,
      byteLength: Number(row.bytes),
    },
  };
}

/**
 * One shard of a run's stored weights in one statement, with the run's state and the weights' length
 * to check the shard against (without reading or parsing the stored topology): the bytes are
 * `SHARD_BYTES · index` onwards, cut by Postgres. `part` and `byteLength` are null when the run has no
 * stored model of that kind (`pruned` when it had one whose weights were pruned); null when the run
 * does not exist.
 */
export async function readRunModelShard(
  sql: postgres.Sql,
  runId: string,
  weights: ModelWeights,
  index: number,
): Promise<{ state: RunState; byteLength: number | null; part: Uint8Array | null; pruned: boolean } | null> {
  const [row] = await sql<{ state: RunState; bytes: number | null; part: Uint8Array | null; pruned: boolean }[]>`
    select r.state, octet_length(m.weights) as bytes, m.run_id is not null and m.weights is null as pruned,
      substring(m.weights from ${index * SHARD_BYTES + 1}::int for ${SHARD_BYTES}::int) as part
    from runs r left join run_models m on m.run_id = r.id and m.weights_kind = ${weights}
    where r.id = ${runId}`;
  if (row === undefined) return null;
  return { state: row.state, byteLength: row.bytes === null ? null : Number(row.bytes), part: row.part, pruned: row.pruned };
}

/**
 * Sets the run's stored weights of the given kinds to null (the figures stay) and says, per kind that
 * was stored, its epoch and how many bytes it freed (0 when already pruned). Null when the run does not
 * exist. A run that has not finished is left alone (its state comes back with nothing pruned): its
 * worker may still write its best weights. Why two statements are safe: a finished run's state never
 * changes again (the state trigger), and the UPDATE locks the rows it reads the old lengths from.
 */
export async function pruneRunModel(
  sql: postgres.Sql,
  runId: string,
  kinds: readonly ModelWeights[],
): Promise<{ state: RunState; pruned: { weights: ModelWeights; epoch: number; freedBytes: number }[] } | null> {
  const [run] = await sql<{ state: RunState }[]>`select state from runs where id = ${runId}`;
  if (run === undefined) return null;
  if (!isTerminalState(run.state)) return { state: run.state, pruned: [] };
  const rows = await sql<{ weights: ModelWeights; epoch: number; bytes: number | null }[]>`
    update run_models m set weights = null
    from (
      select run_id, weights_kind, octet_length(weights) as bytes from run_models
      where run_id = ${runId} and weights_kind = any(${kinds as string[]}::text[])
      for update
    ) old
    where m.run_id = old.run_id and m.weights_kind = old.weights_kind
    returning m.weights_kind as weights, m.epoch, old.bytes`;
  const pruned = rows.map((r) => ({ weights: r.weights, epoch: r.epoch, freedBytes: Number(r.bytes ?? 0) }));
  return { state: run.state, pruned: pruned.sort((a, b) => a.weights.localeCompare(b.weights)) };
}
