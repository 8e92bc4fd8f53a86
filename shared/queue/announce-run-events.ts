import type postgres from "postgres";
import { CHANNELS } from "./channels.ts";

/** A durable run event that was just committed. */
export interface CommittedEvent {
  runId: string;
  seq: number;
}

/**
 * Tells every stream server (API instance) that durable run events were committed: one NOTIFY on
 * `run_events` with `{"runId","seq"}` per event, sent after the writer's own transaction committed, in a
 * transaction of its own. Never throws and never needs awaiting: a lost announcement costs latency only,
 * because stream servers read every row after the last seq they handed out, and re-read the `last_seq`
 * of the runs they serve every few seconds (api/streams/stream-hub.ts).
 *
 * Why not a trigger in the writer's transaction, as before (issue 19): a transaction that sent NOTIFY
 * takes one cluster-wide lock at commit and holds it until its commit record is on disk, so every
 * claim, epoch and completion committed one at a time behind the others' fsyncs (54 % of connection
 * time waiting on Lock:object at 4 connections, 86 % at 20). This transaction writes no row: a crash
 * that loses it loses nothing durable, so it commits without waiting for the disk
 * (`synchronous_commit = off`) and holds that lock for microseconds. One statement, one round trip; on a
 * connection of `max: 1` postgres.js pipelines it ahead of the caller's next statement.
 *
 * @example
 * const seq = await recordEpoch(sql, lease, metrics, checkpoint); // recordEpoch announces it itself
 * announceRunEvents(sql, [{ runId, seq }]);
 */
export function announceRunEvents(sql: postgres.Sql, events: readonly CommittedEvent[]): void {
  if (events.length === 0) return;
  const payloads = events.map((e) => JSON.stringify({ runId: e.runId, seq: e.seq }));
  // set_config(..., true) lasts until the end of this statement's own transaction, its commit included.
  sql`
    select set_config('synchronous_commit', 'off', true), pg_notify(${CHANNELS.runEvents}, p)
    from unnest(${payloads}::text[]) p`.catch(() => {
    // Latency only (see above); a dead connection is reported by the caller's next statement.
  });
}
