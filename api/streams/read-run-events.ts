import type postgres from "postgres";
import { isTerminalState } from "../../shared/run-states.ts";
import { eventMessage, type StoredRunEvent } from "../../shared/stream-messages.ts";

/** A durable event ready to send: serialised once, whatever the number of subscribers. */
export interface OutgoingEvent {
  runId: string;
  seq: number;
  type: string;
  /** The stream message as JSON text. */
  text: string;
  /** A `state` event into succeeded/failed/cancelled: the run's stream ends after it. */
  terminal: boolean;
}

/** The outgoing form of a stored event (or of the same event as a worker sent it). */
export function outgoingEvent(event: StoredRunEvent): OutgoingEvent {
  return {
    runId: event.runId,
    seq: event.seq,
    type: event.type,
    text: JSON.stringify(eventMessage(event)),
    terminal: event.type === "state" && isTerminalState(event.payload.state),
  };
}

export type ReadRunEvents = (runId: string, after: number, limit: number) => Promise<OutgoingEvent[]>;

/**
 * Stored events of one run with seq > `after`, oldest first, at most `limit` (a page of a replay or of
 * a catch-up after NOTIFY). The primary key (run_id, seq) serves it as an index range scan.
 *
 * @example
 * const page = await readRunEvents(sql)(runId, 12, 500); // seq 13, 14, ...
 */
export function readRunEvents(sql: postgres.Sql): ReadRunEvents {
  return async (runId, after, limit) => {
    const rows = await sql<{ seq: number; type: string; payload: Record<string, unknown> }[]>`
      select seq::float8 as seq, type, payload from run_events
      where run_id = ${runId} and seq > ${after}
      order by seq limit ${limit}`;
    return rows.map((r) => outgoingEvent({ runId, seq: r.seq, type: r.type, payload: r.payload }));
  };
}

/** What a stream needs to know about its run: where it stands and which sweep it belongs to. */
export interface RunStreamInfo {
  state: string;
  lastSeq: number;
  sweepId: string | null;
}

export type ReadRunInfo = (runId: string) => Promise<RunStreamInfo | null>;

export function readRunInfo(sql: postgres.Sql): ReadRunInfo {
  return async (runId) => {
    const [row] = await sql<{ state: string; last_seq: number; sweep_id: string | null }[]>`
      select state, last_seq::float8 as last_seq, sweep_id from runs where id = ${runId}`;
    return row === undefined ? null : { state: row.state, lastSeq: row.last_seq, sweepId: row.sweep_id };
  };
}

export type ReadLastSeqs = (runIds: readonly string[]) => Promise<{ runId: string; lastSeq: number }[]>;

/** The current `last_seq` of each of `runIds` (primary-key lookups): which runs have events not yet seen. */
export function readLastSeqs(sql: postgres.Sql): ReadLastSeqs {
  return async (runIds) => {
    if (runIds.length === 0) return [];
    return await sql<{ runId: string; lastSeq: number }[]>`
      select id as "runId", last_seq::float8 as "lastSeq" from runs where id = any(${runIds as string[]}::uuid[])`;
  };
}
