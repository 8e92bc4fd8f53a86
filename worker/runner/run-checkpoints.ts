import type postgres from "postgres";
import { LeaseLostError } from "../../shared/queue/lease-lost-error.ts";
import { noteDamagedCheckpoint } from "../../shared/queue/note-damaged-checkpoint.ts";
import type { ClaimedRun, EpochMetrics } from "../../shared/queue/queue-types.ts";
import { recordEpoch } from "../../shared/queue/record-epoch.ts";
import { setCheckpoint } from "../../shared/queue/set-checkpoint.ts";
import { CheckpointDamagedError, openCheckpoint, sealCheckpoint } from "../train/checkpoint-seal.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";
import type { CheckpointPosition } from "./trainer.ts";
import type { LineLog } from "../../shared/logger.ts";

/**
 * One attempt's view of its run's checkpoints. The database's fenced pointer (`runs.checkpoint_path`)
 * says which checkpoint is the run's; `checkpoint_previous` keeps the one before as the fallback.
 *
 * - Every checkpoint is sealed with a SHA-256 and written durably to the store first; only then does a
 *   fenced statement point the run at it. A crash in between leaves the pointer on the previous one,
 *   and a worker that lost its lease can write bytes but never make the run resume from them.
 * - An epoch is done in one step ({@link commitEpoch}): checkpoint durable, then one statement records
 *   the metrics, the `epoch` event and the new pointer. If the checkpoint cannot be written the epoch
 *   is not reported (the error ends the attempt; the next one redoes the epoch and reports it once).
 * - On load the checksum is verified; a damaged or missing checkpoint is never trained from: the
 *   attempt falls back to the previous one, or starts over, and says so in an event, the attempt's
 *   error and the log. Epochs the run recorded before are then trained again but not reported again.
 * - After each move every older checkpoint of this and earlier attempts is deleted: two are kept.
 * - The final epoch (`run.epochs`) gets no checkpoint: nothing resumes past it. Its metrics and event
 *   are recorded by one fenced statement and the pointer stays on the epoch before. A crash between
 *   that record and the completion (the real trainer evaluates the test set there) resumes from the
 *   epoch before and trains the final one again, unreported: every epoch the run recorded by any
 *   attempt counts as recorded (`run.recordedEpoch`), not only those up to the pointer.
 */
export class RunCheckpoints {
  #current: string | null;
  #previous: string | null = null;
  /** Every reference the run's pointers held during this attempt: what collections must look after. */
  readonly #held = new Set<string>();
  /** Whether this attempt began writing a checkpoint (one may exist though its pointer never moved). */
  #wrote = false;
  /** Epochs the run had recorded when this attempt claimed it (its last recorded epoch). */
  readonly #recordedThrough: number;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly run: ClaimedRun,
    private readonly store: CheckpointStore,
    private readonly log: LineLog,
  ) {
    this.#current = run.checkpointPath;
    if (run.checkpointPath !== null) this.#held.add(run.checkpointPath);
    this.#recordedThrough = run.recordedEpoch; // the claim takes the pointer's epoch into account too
  }

  /** The verified bytes to resume from, or null to start from scratch. */
  async load(): Promise<Uint8Array | null> {
    const pointer = this.run.checkpointPath;
    if (pointer === null) return null;
    const [row] = await this.sql<{ previous: string | null; epoch: number | null }[]>`
      select r.checkpoint_previous as previous,
        (select c.epoch from checkpoints c where 'postgres:' || c.id::text = r.checkpoint_previous) as epoch
      from runs r where r.id = ${this.run.runId}`;
    const candidates = [pointer, ...(row?.previous && row.previous !== pointer ? [row.previous] : [])];
    for (const ref of candidates) this.#held.add(ref);
    const damaged: { ref: string; problem: string }[] = [];
    for (const ref of candidates) {
      const what = `checkpoint ${ref}`;
      let bytes: Uint8Array | null;
      try {
        bytes = await this.store.read(ref);
      } catch (e) {
        throw e instanceof LeaseLostError ? e : new Error(`cannot read ${what}: ${(e as Error).message}`, { cause: e });
      }
      try {
        if (bytes === null) throw new CheckpointDamagedError(`${what}: not found in this worker's store`);
        const payload = openCheckpoint(bytes, what);
        if (damaged.length > 0) await this.#reportDamage(damaged, ref, epochOf(ref, row?.epoch ?? null));
        this.#current = ref;
        this.#previous = ref === pointer ? (row?.previous ?? null) : null;
        return payload;
      } catch (e) {
        if (!(e instanceof CheckpointDamagedError)) throw e;
        damaged.push({ ref, problem: e.message });
      }
    }
    await this.#reportDamage(damaged, null, 0);
    this.#current = null;
    this.#previous = null;
    return null;
  }

  /** A stop's checkpoint (drain, cancel, mid-epoch): durable first, then the fenced pointer. */
  async save(bytes: Uint8Array, at: CheckpointPosition): Promise<void> {
    this.#wrote = true;
    const ref = await this.store.write(this.run, at, sealCheckpoint(bytes));
    const previous = ref === this.#current ? this.#previous : this.#current;
    await setCheckpoint(this.sql, this.run, { path: ref, epoch: at.epochsDone, previous });
    await this.#moved(ref, previous);
  }

  /** The run's final epoch, not recorded by any attempt yet: its record needs no checkpoint. */
  isUnrecordedFinal(m: EpochMetrics): boolean {
    return m.epoch >= this.run.epochs && m.epoch > this.#recordedThrough;
  }

  /**
   * "Epoch done" as one durable step: the epoch's checkpoint is written and synced, then one fenced
   * statement records the metrics, the `epoch` event and the pointer together. Returns the event's seq,
   * or null for an epoch the run had already recorded (a resume from an older checkpoint redid it): its
   * first record stands, only the pointer moves. Throws, reporting nothing, if the write fails.
   *
   * The final epoch writes no checkpoint and leaves the pointer where it is (see the class comment):
   * one fsync and one file fewer per run, and a one-epoch run touches the store not at all.
   */
  async commitEpoch(m: EpochMetrics, bytes: Uint8Array): Promise<number | null> {
    if (m.epoch >= this.run.epochs) {
      if (this.isUnrecordedFinal(m)) return await recordEpoch(this.sql, this.run, m, null);
      this.log(`run ${this.run.runId} attempt ${this.run.attempt}: final epoch ${m.epoch} trained again; its first record stands`);
      return null;
    }
    this.#wrote = true;
    const ref = await this.store.write(this.run, { epochsDone: m.epoch, batches: 0 }, sealCheckpoint(bytes));
    const previous = ref === this.#current ? this.#previous : this.#current;
    const pointer = { path: ref, epoch: m.epoch, previous };
    let seq: number | null = null;
    if (m.epoch <= this.#recordedThrough) {
      await setCheckpoint(this.sql, this.run, pointer);
      this.log(`run ${this.run.runId} attempt ${this.run.attempt}: epoch ${m.epoch} trained again after a fallback; its first record stands`);
    } else {
      seq = await recordEpoch(this.sql, this.run, m, pointer);
    }
    await this.#moved(ref, previous);
    return seq;
  }

  /**
   * After a commit whose answer was lost in an outage but which landed (the epoch is recorded): take the
   * run's pointers as they now stand, so the next commit keeps the right previous one.
   */
  async resync(): Promise<void> {
    const [row] = await this.sql<{ current: string | null; previous: string | null }[]>`
      select checkpoint_path as current, checkpoint_previous as previous from runs where id = ${this.run.runId}`;
    if (row === undefined) return;
    this.#current = row.current;
    this.#previous = row.previous;
    for (const ref of [row.current, row.previous]) if (ref !== null) this.#held.add(ref);
  }

  /**
   * After the run ended: a finished run never resumes. The dir store keeps the final file (cheap, and
   * handy to inspect); the postgres store keeps nothing, so finished runs cost the database no space.
   */
  async finish(): Promise<void> {
    // A first attempt that neither wrote nor held a checkpoint (a one-epoch run) has nothing to collect:
    // no attempt before it can have left a file. Saves the store a listing per run.
    if (this.run.attempt === 1 && !this.#wrote && this.#held.size === 0) return;
    const keep = this.store.kind === "dir" ? [this.#current] : [];
    await this.store.collect(this.run.runId, this.run.attempt, keep, [...this.#held]).catch((e) =>
      this.log(`run ${this.run.runId}: could not delete old checkpoints (${(e as Error).message}); the next collection will`, "warn")
    );
  }

  async #moved(ref: string, previous: string | null): Promise<void> {
    this.#previous = previous;
    this.#current = ref;
    this.#held.add(ref);
    await this.store.collect(this.run.runId, this.run.attempt, [ref, previous], [...this.#held]).catch((e) =>
      this.log(`run ${this.run.runId}: could not delete old checkpoints (${(e as Error).message}); the next collection will`, "warn")
    );
  }

  async #reportDamage(damaged: { ref: string; problem: string }[], resumedFrom: string | null, resumedEpoch: number): Promise<void> {
    const what = resumedFrom === null
      ? "no good checkpoint is left: starting over from epoch 1"
      : `falling back to the previous checkpoint ${resumedFrom} (epoch ${resumedEpoch})`;
    const message = `damaged checkpoint: ${damaged.map((d) => d.problem).join("; ")}; ${what}`;
    this.log(`run ${this.run.runId} attempt ${this.run.attempt}: ${message}`, "warn");
    await noteDamagedCheckpoint(this.sql, this.run, { attempt: this.run.attempt, damaged, resumedFrom, resumedEpoch }, {
      code: "checkpoint_damaged",
      message,
      detail: { damaged: damaged.map((d) => d.ref), resumedFrom },
    });
  }
}

/** The epochs a checkpoint holds, from its row (postgres) or its file name (dir); 0 when unknown. */
function epochOf(ref: string, rowEpoch: number | null): number {
  if (rowEpoch !== null) return rowEpoch;
  return Number(/-e(\d+)-b\d+\.ckpt$/.exec(ref)?.[1] ?? 0);
}
