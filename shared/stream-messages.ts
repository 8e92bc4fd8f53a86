/**
 * Messages of the live streams (`GET /v1/runs/:id/stream`, `GET /v1/stream`, `GET /v1/runs/:id/events`
 * and the workers' socket `GET /v1/workers/stream`). Every message is one JSON object
 * `{ type, runId, seq, ... }`:
 *
 * - `state` and `epoch` are **durable**: the fenced writer stores them in run_events with a gap-free
 *   per-run `seq` before anyone is told. A stream message is the stored row, flattened:
 *   `{ type: row.type, runId: row.run_id, seq: row.seq, ...row.payload }` ({@link eventMessage}), so a
 *   client that reassembles a run from the stream holds exactly what the table holds.
 * - `progress` is not stored and has no seq of its own: its `seq` is the seq of the last durable event
 *   of that run that came before it (0 before the first). It is never a resume point of its own, but
 *   resuming from it is safe because it never exceeds a seq the client was sent.
 * - `error` is not stored either: the server says why it is about to close the stream. Its `seq` is
 *   the last durable seq sent on this stream; `runId` is null on multi-run streams.
 *
 * A client resumes with `?after=<the highest seq of a state/epoch message it holds>` (or the SSE
 * `Last-Event-ID`). Durable events of types not listed here may appear in future versions: a client
 * skips types it does not know but still counts their seq.
 *
 * @example
 * ```ts
 * const msg = streamMessageSchema.parse(JSON.parse(event.data));
 * if (msg.type === "epoch") plot(msg.epoch, msg.valAcc);
 * if (msg.type !== "progress" && msg.type !== "error") lastSeq = msg.seq;
 * ```
 */
import { z } from "zod";
import { RUN_STATES } from "./run-states.ts";
import { epochMetricsSchema } from "./epoch-metrics.ts";

/** Echoed in `Sec-WebSocket-Protocol` when a client offers it (browsers must offer it with a token). */
export const STREAM_PROTOCOL = "resnet-jobs.v1";
/** A `Sec-WebSocket-Protocol` entry `bearer.<token>` carries a browser's token; it is never echoed. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";

const seq = z.number().int().min(0);
const runId = z.uuid();

/** Why an attempt or a run ended badly (the queue's RunError). */
export const runErrorSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

/**
 * Payload of a `state` event as the queue writes it (claim, complete, fail, release, reap, cancel).
 * Loose: fields added by a later writer pass through untouched.
 */
export const stateEventPayloadSchema = z.looseObject({
  state: z.enum(RUN_STATES),
  attempt: z.number().int().min(0),
  workerId: z.string().nullable().optional(),
  /** Why the run left `running` when it did not simply finish: "released", "lease_expired", ... */
  reason: z.string().optional(),
  error: runErrorSchema.optional(),
  /** A retried run is not claimable before this time (ISO 8601). */
  runAfter: z.string().optional(),
});

/**
 * Payload of a `data` event: a worker finding or fetching the run's data set before training starts
 * (durable, so a client that subscribes late still sees why the first epoch is slow). Phases: `waiting`
 * (another worker on the machine is fetching it), `download` / `verify` / `unpack` (a fetch in
 * progress; download at most every 2 s), `ready` (with where it was found: `local` = the configured
 * folder, `system` = Debian's package, `fetched`).
 */
export const dataEventPayloadSchema = z.looseObject({
  dataset: z.string(),
  phase: z.enum(["waiting", "download", "verify", "unpack", "ready"]),
  source: z.enum(["local", "system", "fetched"]).optional(),
  dir: z.string().optional(),
  file: z.string().optional(),
  bytes: z.number().min(0).optional(),
  totalBytes: z.number().min(0).nullable().optional(),
  /** Who holds the fetch lock, while `waiting`. */
  holder: z.string().optional(),
});
export type DataEventPayload = z.infer<typeof dataEventPayloadSchema>;

/** Payload of an `epoch` event: the epoch_metrics row as written, 1-based epoch. */
export const epochEventPayloadSchema = z.looseObject(epochMetricsSchema.shape);

const envelope = { runId, seq };

export const stateMessageSchema = stateEventPayloadSchema.extend({ type: z.literal("state"), ...envelope });
export const epochMessageSchema = epochEventPayloadSchema.extend({ type: z.literal("epoch"), ...envelope });

/** Between epochs, every N batches: how far the current epoch has got. */
export const progressMessageSchema = z.object({
  type: z.literal("progress"),
  runId,
  /** The last durable seq of this run before this message (not an id of its own). */
  seq,
  attempt: z.number().int().min(0),
  /** The epoch in progress, 1-based. */
  epoch: z.number().int().min(1),
  /** Batches done in this epoch, 1-based. */
  batch: z.number().int().min(0),
  batchesPerEpoch: z.number().int().min(1),
  /** Running means over the epoch so far. */
  loss: z.number(),
  acc: z.number(),
  lr: z.number(),
  imagesPerSec: z.number().min(0),
  /** Estimated seconds until the run's last epoch ends. */
  etaSeconds: z.number().min(0),
});

/** Codes of the `error` message, sent just before the server closes a stream. */
export const STREAM_ERROR_CODES = ["slow_consumer", "replay_failed", "shutting_down", "internal"] as const;

export const errorMessageSchema = z.object({
  type: z.literal("error"),
  /** null on multi-run streams. */
  runId: runId.nullable(),
  /** The last durable seq sent on this stream. */
  seq,
  code: z.enum(STREAM_ERROR_CODES),
  message: z.string(),
});

/** Every message type this version defines. */
export const streamMessageSchema = z.discriminatedUnion("type", [
  stateMessageSchema,
  epochMessageSchema,
  progressMessageSchema,
  errorMessageSchema,
]);

/** What a worker may send on its socket: durable events it has committed, and progress. */
export const workerMessageSchema = z.discriminatedUnion("type", [
  stateMessageSchema,
  epochMessageSchema,
  progressMessageSchema,
]);

export type StateMessage = z.infer<typeof stateMessageSchema>;
export type EpochMessage = z.infer<typeof epochMessageSchema>;
export type ProgressMessage = z.infer<typeof progressMessageSchema>;
export type ErrorMessage = z.infer<typeof errorMessageSchema>;
export type StreamMessage = z.infer<typeof streamMessageSchema>;
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
export type StreamErrorCode = (typeof STREAM_ERROR_CODES)[number];

/** A durable event as stored in run_events. */
export interface StoredRunEvent {
  runId: string;
  seq: number;
  type: string;
  payload: Record<string, unknown>;
}

/** A durable event as a stream message: the envelope first, then the payload (which cannot override it). */
export type EventMessage = { type: string; runId: string; seq: number } & Record<string, unknown>;

/**
 * The stream message of a stored event. The worker sends exactly this for the events it commits, and
 * the server builds exactly this from the row, so both paths deliver the same object.
 *
 * @example
 * ```ts
 * eventMessage({ runId, seq: 3, type: "epoch", payload: { epoch: 1, loss: 2.1, ... } });
 * // { type: "epoch", runId, seq: 3, epoch: 1, loss: 2.1, ... }
 * ```
 */
export function eventMessage(event: StoredRunEvent): EventMessage {
  const { type: _t, runId: _r, seq: _s, ...rest } = event.payload;
  return { type: event.type, runId: event.runId, seq: event.seq, ...rest };
}
