import type postgres from "postgres";
import { announceRunEvents } from "./announce-run-events.ts";
import { claimedColumns } from "./claim-run.ts";
import type { Completion } from "./complete-run.ts";
import type { ClaimedRun, Lease } from "./queue-types.ts";

/**
 * What this claim's completion wrote, if it committed: the completion's answer rebuilt from the
 * database, or null if the run was not completed by this attempt. A worker whose completion failed
 * with a lost connection cannot know whether it committed (the server may have committed and died
 * before answering): it asks this before completing again, so a completion that landed is not taken
 * for a lost lease, and a next run it claimed (`withClaim`: it asked for one) is run at once instead of
 * waiting, held by no one, for its lease to run out. Its events are announced again (the first
 * announcement was to follow the lost answer).
 *
 * Why the locking is safe: plain reads. The completion, its final epoch and the next claim are one
 * statement, so either all of it is visible or none. The run it claimed is named exactly, not guessed
 * from the worker's running runs (a run the worker abandoned may still be running under its id until
 * the reaper takes it): its claim log row has the completion's own transaction time, `now()`, as
 * `claimed_at`, which is the completed run's `finished_at`.
 *
 * @example
 * const done = await findCompletion(sql, lease, true, true) ?? await completeRunAndClaim(...);
 */
export async function findCompletion(
  sql: postgres.Sql,
  lease: Lease,
  withFinalEpoch: boolean,
  withClaim: boolean,
): Promise<Completion | null> {
  const [run] = await sql<{ state: string; attempt: number; seq: number }[]>`
    select state, attempt, last_seq::float8 as seq from runs where id = ${lease.runId}`;
  if (run === undefined || run.state !== "succeeded" || run.attempt !== lease.attempt) return null;
  const [next] = !withClaim ? [] : await sql<ClaimedRun[]>`
    select ${claimedColumns(sql)} from runs claimed
    join run_attempts a on a.run_id = claimed.id and a.attempt = claimed.attempt
      and a.lease_token = claimed.lease_token
    where claimed.state = 'running' and claimed.worker_id = ${lease.workerId} and claimed.id <> ${lease.runId}
      and a.claimed_at = (select finished_at from runs where id = ${lease.runId})`;
  const events = [{ runId: lease.runId, seq: run.seq }];
  if (withFinalEpoch) events.unshift({ runId: lease.runId, seq: run.seq - 1 });
  if (next !== undefined) events.push({ runId: next.runId, seq: next.lastSeq });
  announceRunEvents(sql, events);
  return { epochSeq: withFinalEpoch ? run.seq - 1 : null, next: next ?? null };
}
