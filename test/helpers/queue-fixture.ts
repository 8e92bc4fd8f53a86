import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";
import { stopWorkers, type WorkerProcess } from "./worker-process.ts";

export interface QueueFixture {
  /** The file's own database (set in `before`). */
  readonly db: TestDatabase;
  /** A scratch directory for checkpoints (set in `before`). */
  readonly dir: string;
  /** Workers the tests start; all are stopped after the file. */
  readonly workers: WorkerProcess[];
  /** Settles when db and dir are set up (node:test may start another root `before` hook alongside). */
  readonly ready: Promise<void>;
}

/**
 * What every queue test file with worker processes needs, set up before its tests and torn down after
 * them: a cloned database, a checkpoint directory, and the workers it started.
 *
 * @example
 * const fx = queueFixture("queue-faults");
 * test("…", async () => { await fx.db.sql`select 1`; startWorker({ CHECKPOINT_DIR: fx.dir, … }, "w1"); });
 */
export function queueFixture(label: string): QueueFixture {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  const workers: WorkerProcess[] = [];
  let setUp!: () => void;
  let failed!: (e: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    setUp = resolve;
    failed = reject;
  });
  before(async () => {
    try {
      db = await createTestDatabase();
      dir = await mkdtemp(path.join(tmpdir(), `${label}-`));
      setUp();
    } catch (e) {
      failed(e);
      throw e;
    }
  });
  after(async () => {
    await stopWorkers(workers);
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const must = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`queueFixture: ${what} is set up in before(); use it inside a test`);
    return value;
  };
  return {
    get db() {
      return must(db, "db");
    },
    get dir() {
      return must(dir, "dir");
    },
    workers,
    ready,
  };
}
