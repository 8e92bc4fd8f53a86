import type postgres from "postgres";
import type { Lease } from "../../shared/queue/queue-types.ts";
import { dirCheckpointStore } from "./dir-checkpoint-store.ts";
import { isPostgresRef, postgresCheckpointStore } from "./postgres-checkpoint-store.ts";
import type { CheckpointPosition } from "./trainer.ts";

/**
 * Where a run's checkpoints are kept (CHECKPOINT_STORE): a folder (`dir`, one file per checkpoint) or
 * Postgres itself (`postgres`, chunked rows). Stores hold sealed bytes (train/checkpoint-seal.ts) and know
 * nothing of leases beyond what writing needs; which checkpoint is the run's is decided only by the
 * fenced pointer in `runs` (run-checkpoints.ts).
 */
export interface CheckpointStore {
  readonly kind: "dir" | "postgres";
  /** Writes `sealed` durably and returns the reference the run's pointer will hold. */
  write(lease: Lease, at: CheckpointPosition, sealed: Uint8Array): Promise<string>;
  /** The bytes behind `ref`, or null when they are gone. Reads a reference of either kind. */
  read(ref: string): Promise<Uint8Array | null>;
  /**
   * Deletes the run's checkpoints written by attempts up to `upToAttempt` except those in `keep` (a
   * later attempt's are never touched: they may be written but not pointed at yet). `held`: every
   * reference the run's pointers held during this attempt, kept or not (default `keep`), which tells
   * the configured store whether the run ever had a checkpoint of the other kind.
   */
  collect(runId: string, upToAttempt: number, keep: readonly (string | null)[], held?: readonly (string | null)[]): Promise<void>;
}

export interface CheckpointStoreOptions {
  kind: "dir" | "postgres";
  sql: postgres.Sql;
  /** The folder of the `dir` store. */
  dir: string;
}

/**
 * The configured store. Either kind reads the other's references, so a fleet that changes
 * CHECKPOINT_STORE (or mixes them) still resumes runs checkpointed before.
 *
 * @example
 * const store = createCheckpointStore({ kind: "postgres", sql, dir: "/var/ckpt" });
 */
export function createCheckpointStore(o: CheckpointStoreOptions): CheckpointStore {
  const files = dirCheckpointStore(o.dir);
  const rows = postgresCheckpointStore(o.sql);
  const primary = o.kind === "dir" ? files : rows;
  return {
    kind: o.kind,
    write: (lease, at, sealed) => primary.write(lease, at, sealed),
    read: (ref) => (isPostgresRef(ref) ? rows : files).read(ref),
    // Files always (a local folder: no statement, and orphans of a crashed write on this host go too).
    // Rows when this worker stores rows, or when the run's pointers named a row during this attempt (a
    // changed or mixed fleet): a `dir` worker sends no DELETE for a run that never had one (issue 19:
    // two statements per epoch and per finish). Rows that no pointer ever named (an earlier attempt
    // died between writing and pointing) go when the run ends, in the reaper's sweep
    // (collect-ended-checkpoints.ts).
    async collect(runId, upToAttempt, keep, held = keep) {
      const sweepRows = o.kind === "postgres" || [...keep, ...held].some((r) => r !== null && isPostgresRef(r));
      await Promise.all([
        files.collect(runId, upToAttempt, keep),
        sweepRows ? rows.collect(runId, upToAttempt, keep) : undefined,
      ]);
    },
  };
}
