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
 * for a lost lease, and a next run it claimed (`claimedFor`, the worker's id, when it asked for one) is
 * run at once instead of waiting, held by no one, for its lease to run out. Its events are announced
 * again (the first announcement was to follow the lost answer).
 *
 * Why the locking is safe: plain reads. The completion, its final epoch and the next claim are one
 * statement (complete-run.ts), so either all of it is visible or none; a worker holds at most one
 * running run, so the running run with this worker's id is the one that statement claimed.
 *
 * @example
 * const done = await findCompletion(sql, lease, true, lease.workerId) ?? await completeRunAndClaim(...);
 */
export async function findCompletion(
  sql: postgres.Sql,
  lease: Lease,
  withFinalEpoch: boolean,
  claimedFor: string | null,
): Promise<Completion | null> {
  const [run] = await sql<{ state: string; attempt: number; seq: number }[]>`
    select state, attempt, last_seq::float8 as seq from runs where id = ${lease.runId}`;
  if (run === undefined || run.state !== "succeeded" || run.attempt !== lease.attempt) return null;
  const [next] = claimedFor === null ? [] : await sql<ClaimedRun[]>`
    select ${claimedColumns(sql)} from runs claimed
    where claimed.state = 'running' and claimed.worker_id = ${claimedFor} and claimed.id <> ${lease.runId}
    order by claimed.started_at desc limit 1`;
  const events = [{ runId: lease.runId, seq: run.seq }];
  if (withFinalEpoch) events.unshift({ runId: lease.runId, seq: run.seq - 1 });
  if (next !== undefined) events.push({ runId: next.runId, seq: next.lastSeq });
  announceRunEvents(sql, events);
  return { epochSeq: withFinalEpoch ? run.seq - 1 : null, next: next ?? null };
}
