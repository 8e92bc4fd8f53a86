import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import type postgres from "postgres";
import { LeaseLostError } from "../queue/lease-lost-error.ts";
import type { ClaimedRun } from "../queue/queue-types.ts";
import { setCheckpoint } from "../queue/set-checkpoint.ts";
import { writeFileAtomic } from "../train/checkpoint.ts";
import type { CheckpointPosition } from "./trainer.ts";

/**
 * A run's checkpoints on disk, one new file per save, named by attempt and position
 * (`<dir>/<run id>/a<attempt>-e<epochs>-b<batches>.ckpt`). The database's fenced pointer says which
 * file is the run's: the file is written and fsynced first, then the pointer moves, then the previous
 * file is deleted. So a crash between write and pointer resumes from the previous checkpoint, and a
 * worker that lost its lease (a stale, SIGSTOPped one) can write files but never make a run resume
 * from them, nor overwrite the file the new owner reads. CHECKPOINT_DIR must be shared by every worker
 * that may claim the run (one machine: any folder; several: a shared filesystem).
 */
export class RunCheckpoints {
  #current: string | null;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly run: ClaimedRun,
    private readonly dir: string,
  ) {
    this.#current = run.checkpointPath;
  }

  async load(): Promise<Uint8Array | null> {
    if (this.run.checkpointPath === null) return null;
    return await readFile(this.run.checkpointPath);
  }

  async save(bytes: Uint8Array, at: CheckpointPosition): Promise<void> {
    const file = path.join(path.resolve(this.dir), this.run.runId, `a${this.run.attempt}-e${at.epochsDone}-b${at.batches}.ckpt`);
    await writeFileAtomic(file, bytes);
    try {
      await setCheckpoint(this.sql, this.run, { path: file, epoch: at.epochsDone });
    } catch (e) {
      // Nothing points at the file (or ever will): remove it. If the update's outcome is unknown
      // (connection error), keep it, since the pointer may have moved.
      if (e instanceof LeaseLostError) await rm(file, { force: true });
      throw e;
    }
    const previous = this.#current;
    this.#current = file;
    if (previous !== null && previous !== file) await rm(previous, { force: true }).catch(() => {});
  }
}
