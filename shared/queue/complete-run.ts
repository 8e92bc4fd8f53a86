import type postgres from "postgres";
import { attemptEndTail } from "./attempt-end-tail.ts";
import { announceRunEvents } from "./announce-run-events.ts";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { ClaimedRun, EpochMetrics, Lease } from "./queue-types.ts";
import { claimCtes, claimedColumns, type ClaimOptions } from "./claim-run.ts";
import { epochRecordTail } from "./record-epoch.ts";

/**
 * Ends a run `succeeded` after its last epoch: closes the claim log entry, appends the `state` event and
 * frees the worker row, in one statement. With `finalEpoch` (not recorded yet: the runner defers the
 * final epoch's record when the trainer returns at once, execute-run.ts), the same statement first
 * records it, metrics row and `epoch` event (seq n + 1, the `succeeded` event n + 2): one commit instead
 * of two. Returns that epoch event's seq, or null without `finalEpoch`. Throws {@link LeaseLostError}
 * when the run is no longer this claim's (then nothing is written).
 *
 * Why the locking is safe: the fenced UPDATE (id + attempt + token + state running) is the only
 * statement that can succeed for this claim; every other write reads from its RETURNING, so the final
 * epoch and the completion land together or not at all. The state trigger forbids leaving a terminal
 * state, so a stale worker cannot finish a run twice.
 *
 * @example
 * await completeRun(sql, lease);
 * const epochSeq = await completeRun(sql, lease, { epoch: 30, loss: 0.2, ... });
 */
export async function completeRun(sql: postgres.Sql, lease: Lease, finalEpoch: EpochMetrics | null = null): Promise<number | null> {
  return (await completeRunAndClaim(sql, lease, finalEpoch, null)).epochSeq;
}

export interface Completion {
  /** The final epoch's event seq (null without `finalEpoch`). */
  epochSeq: number | null;
  /** The worker's next run, claimed by the same statement (null: none queued, or none asked for). */
  next: ClaimedRun | null;
}

/**
 * {@link completeRun}, and with `claim` (the same worker's) the claim of its next run in the same
 * statement: one round trip and one commit per run instead of two, for a worker that goes on working
 * (issue 19). The claim is the claim-run.ts pick, gated on the completion: a fenced-off completion
 * claims nothing. The worker row, which both would update, is updated once: busy with the next run, or
 * idle. A run's events keep their order (the completion's are its own run's; the claim's `running` event
 * is the next run's).
 *
 * @example
 * const { next } = await completeRunAndClaim(sql, lease, null, { workerId: lease.workerId, leaseS: 30 });
 * if (next) await train(next);
 */
export async function completeRunAndClaim(
  sql: postgres.Sql,
  lease: Lease,
  finalEpoch: EpochMetrics | null,
  claim: ClaimOptions | null,
): Promise<Completion> {
  const rows = await completionStatement(sql, lease, finalEpoch, claim);
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "completing the run");
  const next = row.runId == null ? null : claimedRun(row);
  const events = finalEpoch === null
    ? [{ runId: lease.runId, seq: row.seq }]
    : [{ runId: lease.runId, seq: row.seq - 1 }, { runId: lease.runId, seq: row.seq }];
  if (next !== null) events.push({ runId: next.runId, seq: next.lastSeq });
  announceRunEvents(sql, events);
  return { epochSeq: finalEpoch === null ? null : row.seq - 1, next };
}

/**
 * The completion as an unexecuted statement, so that a test can EXPLAIN exactly what
 * {@link completeRunAndClaim} sends: a row with the run's last `seq`, and with `claim` the next run's
 * {@link ClaimedRun} columns (null when none was claimed); no row when the completion was fenced off.
 */
export function completionStatement(
  sql: postgres.Sql,
  lease: Lease,
  finalEpoch: EpochMetrics | null,
  claim: ClaimOptions | null,
): postgres.PendingQuery<({ seq: number } & Partial<ClaimedRun>)[]> {
  if (claim !== null && claim.workerId !== lease.workerId) throw new TypeError("a completion claims for its own worker only");
  return sql<({ seq: number } & Partial<ClaimedRun>)[]>`
    with r as (
      update runs set state = 'succeeded', finished_at = now(), error = null, lease_token = null,
        lease_expires_at = null, last_seq = last_seq + ${finalEpoch === null ? 1 : 2}
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning id, attempt, worker_id, last_seq
    )${finalEpoch === null ? sql`` : epochRecordTail(sql, lease, finalEpoch, sql`r.last_seq - 1`)}${attemptEndTail(sql, {
    outcome: sql`'succeeded'`,
    payload: sql`jsonb_build_object('state', 'succeeded', 'attempt', attempt, 'workerId', worker_id)`,
    workerId: lease.workerId,
    workerState: claim === null ? "idle" : null,
  })}${claim === null ? sql`
    select last_seq::float8 as seq from r` : sql`, ${claimCtes(sql, claim, sql`exists (select 1 from r)`)}, worker as (
      update workers set state = case when claimed.id is null then 'idle' else 'busy' end,
        current_run_id = claimed.id, last_seen_at = now()
      from r left join claimed on true
      where workers.id = ${lease.workerId}
    )
    select r.last_seq::float8 as seq, ${claimedColumns(sql)} from r left join claimed on true`}`;
}

/** The claimed run's fields of a completion's row (without the completion's own `seq`). */
function claimedRun(row: { seq: number } & Partial<ClaimedRun>): ClaimedRun {
  const { seq: _seq, ...run } = row;
  return run as ClaimedRun;
}
