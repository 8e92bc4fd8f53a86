/**
 * The drizzle schema: the single truth for every table's rows. Types for rows are derived from it
 * (`typeof runs.$inferSelect`), never hand-written. Views, the state-transition trigger and roles live
 * in hand-written migrations (drizzle-kit `--custom`), because drizzle-kit cannot express them.
 *
 * @example
 * ```ts
 * import { runs } from "./schema.ts";
 * type RunRow = typeof runs.$inferSelect;
 * ```
 */
import { sql } from "drizzle-orm";
import type { RunSpec } from "../run-spec.ts";
import { RUN_STATES, TOKEN_SCOPES } from "../run-states.ts";
import {
  bigint,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";


/** drizzle has no bytea column; the rows are written and read with postgres.js, which maps it to Buffer. */
const customBytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });
const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const specNumber = (path: string) => sql.raw(`((spec #>> '{${path}}')::double precision)`);

export const sweeps = pgTable("sweeps", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name"),
  baseSpec: jsonb("base_spec").notNull(),
  grid: jsonb("grid").notNull(),
  repeat: integer("repeat").notNull().default(1),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

export const runs = pgTable(
  "runs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name"),
    sweepId: uuid("sweep_id").references(() => sweeps.id, { onDelete: "set null" }),
    /** The fully defaulted, validated run spec (shared/run-spec.ts output), written only by insertRuns. */
    spec: jsonb("spec").$type<RunSpec>().notNull(),
    state: text("state", { enum: RUN_STATES }).notNull().default("queued"),
    priority: integer("priority").notNull().default(0),
    tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
    /** Attempts started so far; the claim increments it. */
    attempt: integer("attempt").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(3),
    /**
     * Claims handed back by a draining worker (SIGTERM): they do not count against max_attempts, so the
     * attempts spent are `attempt - releases`. `attempt` itself only grows: it is part of the fencing
     * token and must never repeat.
     */
    releases: integer("releases").notNull().default(0),
    /** Fencing: every worker write must present (id, attempt, lease_token) of a running run. */
    leaseToken: uuid("lease_token"),
    workerId: text("worker_id"),
    leaseExpiresAt: tstz("lease_expires_at"),
    /** Backoff after an infrastructure failure: not claimable before this time. */
    runAfter: tstz("run_after").notNull().defaultNow(),
    cancelRequestedAt: tstz("cancel_requested_at"),
    /** Where the last good checkpoint is and which epoch it holds. */
    checkpointPath: text("checkpoint_path"),
    checkpointEpoch: integer("checkpoint_epoch"),
    /**
     * The checkpoint the pointer held before the last move: the fallback when the current one turns
     * out damaged (the last two are kept; older ones are garbage-collected).
     */
    checkpointPrevious: text("checkpoint_previous"),
    error: jsonb("error"),
    idempotencyKey: text("idempotency_key"),
    requestHash: text("request_hash"),
    lastSeq: bigint("last_seq", { mode: "number" }).notNull().default(0),
    /**
     * Submission order. Runs inserted by one statement (a sweep) share `created_at`, so age alone would
     * start them in random (uuid) order; this keeps first-in, first-out exact.
     */
    submitSeq: bigint("submit_seq", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    createdAt: tstz("created_at").notNull().defaultNow(),
    startedAt: tstz("started_at"),
    finishedAt: tstz("finished_at"),
    updatedAt: tstz("updated_at").notNull().defaultNow(),
    // Columns generated from the spec so that SQL over runs can filter and index them directly.
    alpha: doublePrecision("alpha").generatedAlwaysAs(specNumber("optimizer,alpha")),
    lambda: doublePrecision("lambda").generatedAlwaysAs(specNumber("optimizer,lambda")),
    l2: doublePrecision("l2").generatedAlwaysAs(specNumber("optimizer,l2")),
    shift: doublePrecision("shift").generatedAlwaysAs(specNumber("data,shift")),
    threshold: doublePrecision("threshold").generatedAlwaysAs(specNumber("threshold")),
    batchSize: integer("batch_size").generatedAlwaysAs(sql`((spec ->> 'batchSize')::integer)`),
    depth: integer("depth").generatedAlwaysAs(sql`((spec #>> '{model,depth}')::integer)`),
    schedule: text("schedule").generatedAlwaysAs(sql`(spec ->> 'schedule')`),
    /**
     * The schedule's last epoch (the run's length): the number in its last knot `[value, epoch]`, which
     * ends the text (shared/schedule/parse-schedule.ts's grammar; test/migrations.test.ts holds it
     * equal to specEpochs for the seed's schedules).
     */
    epochs: integer("epochs").notNull().generatedAlwaysAs(sql`((regexp_match(spec ->> 'schedule', ',\\s*(\\d+)\\s*\\]\\s*$'))[1]::integer)`),
  },
  (t) => [
    check("runs_state_check", sql`${t.state} in ('queued','running','succeeded','failed','cancelled')`),
    check("runs_epochs_check", sql`${t.epochs} between 1 and 1000`),
    check("runs_attempt_check", sql`${t.attempt} >= 0 and ${t.maxAttempts} >= 1`),
    check(
      "runs_lease_check",
      sql`${t.state} <> 'running' or (${t.leaseToken} is not null and ${t.workerId} is not null and ${t.leaseExpiresAt} is not null)`,
    ),
    // The claim's hot path: queued runs by priority, then age.
    index("runs_claimable_idx").on(t.priority.desc(), t.submitSeq).where(sql`${t.state} = 'queued'`),
    // The reaper's: running runs (a few, one per busy worker). Keyed on id, not lease_expires_at, so
    // that a heartbeat, which only moves the expiry, changes no indexed column and can be a HOT update.
    index("runs_running_idx").on(t.id).where(sql`${t.state} = 'running'`),
    index("runs_created_idx").on(t.createdAt.desc(), t.id.desc()),
    index("runs_sweep_idx").on(t.sweepId),
    index("runs_tags_idx").using("gin", t.tags),
    index("runs_params_idx").on(t.alpha, t.lambda, t.l2, t.shift),
    // On the schedule's md5, not the text: a schedule may be long (1,000 knots) and a btree entry must
    // fit a third of a page. Not a hash index: most runs share a few schedules, and a hash index keeps
    // equal keys in one bucket whose overflow chain every insert walks to its end, so each claim and
    // completion (both new row versions) read one page per ~400 earlier runs with that schedule (issue
    // 19: 300 pages of a 1.15 ms claim at 120,000 runs). Filter with `md5(schedule) = md5('...')`.
    index("runs_schedule_idx").using("btree", sql`md5(${t.schedule})`),
    uniqueIndex("runs_idempotency_key_idx").on(t.idempotencyKey),
  ],
);

/** One row per attempt: who claimed it, when, and how it ended (the claim log). */
export const runAttempts = pgTable(
  "run_attempts",
  {
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    workerId: text("worker_id").notNull(),
    leaseToken: uuid("lease_token").notNull(),
    claimedAt: tstz("claimed_at").notNull().defaultNow(),
    endedAt: tstz("ended_at"),
    outcome: text("outcome"),
    error: jsonb("error"),
  },
  (t) => [primaryKey({ columns: [t.runId, t.attempt] })],
);

export const epochMetrics = pgTable(
  "epoch_metrics",
  {
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    /** 1-based, as Keras prints it. */
    epoch: integer("epoch").notNull(),
    loss: doublePrecision("loss").notNull(),
    acc: doublePrecision("acc").notNull(),
    valLoss: doublePrecision("val_loss").notNull(),
    valAcc: doublePrecision("val_acc").notNull(),
    lr: doublePrecision("lr").notNull(),
    wd: doublePrecision("wd").notNull(),
    seconds: doublePrecision("seconds").notNull(),
    imagesPerSec: doublePrecision("images_per_sec").notNull(),
    attempt: integer("attempt").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.epoch] }), check("epoch_metrics_epoch_check", sql`${t.epoch} >= 1`)],
);

/**
 * Checkpoints kept in Postgres (CHECKPOINT_STORE=postgres): one row per stored checkpoint, its bytes in
 * {@link checkpointChunks}. A run points at one with `runs.checkpoint_path = 'postgres:<id>'`. Rows are
 * written in their own transaction before the fenced pointer moves; unreferenced ones are deleted.
 */
export const checkpoints = pgTable(
  "checkpoints",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    /** The attempt that wrote it: garbage collection by one attempt never touches a later one's. */
    attempt: integer("attempt").notNull(),
    epoch: integer("epoch").notNull(),
    batches: integer("batches").notNull(),
    /** Total bytes over all chunks (the sealed checkpoint, checksum included). */
    size: bigint("size", { mode: "number" }).notNull(),
    chunks: integer("chunks").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [index("checkpoints_run_idx").on(t.runId, t.attempt)],
);

/** A checkpoint's bytes in chunks (1 MiB each), so no single value nears bytea's limits or memory. */
export const checkpointChunks = pgTable(
  "checkpoint_chunks",
  {
    checkpointId: uuid("checkpoint_id").notNull().references(() => checkpoints.id, { onDelete: "cascade" }),
    n: integer("n").notNull(),
    data: customBytea("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.checkpointId, t.n] })],
);

/** Durable per-run events (state changes, epochs) with a gap-free per-run sequence. */
export const runEvents = pgTable(
  "run_events",
  {
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    seq: bigint("seq", { mode: "number" }).notNull(),
    type: text("type").notNull(),
    payload: jsonb("payload").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
);

export const workers = pgTable("workers", {
  id: text("id").primaryKey(),
  host: text("host").notNull(),
  pid: integer("pid").notNull(),
  backend: text("backend").notNull(),
  device: text("device").notNull(),
  version: text("version").notNull(),
  state: text("state", { enum: ["idle", "busy", "draining", "gone"] }).notNull().default("idle"),
  currentRunId: uuid("current_run_id"),
  startedAt: tstz("started_at").notNull().defaultNow(),
  lastSeenAt: tstz("last_seen_at").notNull().defaultNow(),
});

export const apiTokens = pgTable(
  "api_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    /** SHA-256 of the token; the token itself is shown once and never stored. */
    tokenHash: text("token_hash").notNull(),
    /** The first characters, so a person can tell tokens apart in listings. */
    prefix: text("prefix").notNull(),
    scopes: text("scopes", { enum: TOKEN_SCOPES }).array().notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
    expiresAt: tstz("expires_at"),
    revokedAt: tstz("revoked_at"),
    lastUsedAt: tstz("last_used_at"),
  },
  (t) => [uniqueIndex("api_tokens_hash_idx").on(t.tokenHash)],
);

/** Which weights a stored model holds: the epoch with the best val_acc, or the last epoch. */
export const MODEL_WEIGHT_KINDS = ["best", "final"] as const;

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/**
 * A run's exported network (`GET /v1/runs/:id/model/model.json`): the worker writes the best epoch's
 * weights whenever a new best val_acc appears and the final weights at completion, fenced by the run's
 * lease like its other writes, so any API instance serves them and a resumed run keeps its best.
 * `model` is model.json without its shard list (shared/model-artifact.ts StoredModel); `weights` the
 * float32 bytes in its weightSpecs order. The test-set figures arrive at the run's end.
 */
export const runModels = pgTable(
  "run_models",
  {
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    weightsKind: text("weights_kind", { enum: MODEL_WEIGHT_KINDS }).notNull(),
    epoch: integer("epoch").notNull(),
    valAcc: doublePrecision("val_acc").notNull(),
    valLoss: doublePrecision("val_loss").notNull(),
    testAcc: doublePrecision("test_acc"),
    testLoss: doublePrecision("test_loss"),
    model: jsonb("model").notNull(),
    // Null once an operator pruned the weights (README, "Trained models"): the figures stay.
    weights: bytea("weights"),
    attempt: integer("attempt").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.weightsKind] }),
    check("run_models_weights_kind_check", sql`${t.weightsKind} in ('best','final')`),
  ],
);
