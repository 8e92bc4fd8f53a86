import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../train/checkpoint.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";

/**
 * Checkpoints as files, `<dir>/<run id>/a<attempt>-e<epochs>-b<batches>.ckpt`, each written atomically
 * (temp file, fsync, rename, fsync of the folder). Named per attempt, so a fenced-off worker never
 * overwrites the file a new owner reads. Every worker that may claim the run must see the same folder
 * (one machine, or a shared filesystem); otherwise use the postgres store.
 */
export function dirCheckpointStore(dir: string): CheckpointStore {
  const root = path.resolve(dir);
  return {
    kind: "dir",
    async write(lease, at, sealed) {
      const file = path.join(root, lease.runId, `a${lease.attempt}-e${at.epochsDone}-b${at.batches}.ckpt`);
      await writeFileAtomic(file, sealed);
      return file;
    },
    async read(ref) {
      try {
        return await readFile(ref);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw e;
      }
    },
    async collect(runId, upToAttempt, keep) {
      const folder = path.join(root, runId);
      const names = await readdir(folder).catch(() => [] as string[]);
      for (const name of names) {
        // Only finished files (temp files belong to writes in progress) of this or earlier attempts.
        const attempt = /^a(\d+)-e\d+-b\d+\.ckpt$/.exec(name)?.[1];
        const file = path.join(folder, name);
        if (attempt === undefined || Number(attempt) > upToAttempt || keep.includes(file)) continue;
        await rm(file, { force: true }).catch(() => {});
      }
    },
  };
}
