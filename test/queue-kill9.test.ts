// kill -9 of a worker in the middle of a real training run (TRAINER=real, a tiny ResNet on synthetic
// data): the run is back in the queue within LEASE_S + one reaper interval, resumes on another worker
// from its checkpoint, finishes, and has one metrics row per epoch.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { before, test } from "node:test";
import { parseRunSpec } from "../shared/run-spec.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually, FAST_QUEUE_ENV, startWorker } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-kill9");
const pool = fx.workers;
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

const LEASE_S = Number(FAST_QUEUE_ENV.LEASE_S);
const HEARTBEAT_S = Number(FAST_QUEUE_ENV.HEARTBEAT_S);
const EPOCHS = 4;

test("kill -9 mid-run: back in the queue within LEASE_S + reaper interval, resumed elsewhere from the checkpoint, one metrics row per epoch", { timeout: 240_000 }, async () => {
  const parsed = parseRunSpec({
    name: "kill -9",
    schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]`,
    model: { depth: 11 },
    batchSize: 16,
    data: { dataset: "synthetic", trainSize: 160, imageSize: 8, validationSize: 32 },
  });
  assert.ok(parsed.ok);
  const env = { DATABASE_URL: db.url, TRAINER: "real", BACKEND: "wasm", CHECKPOINT_DIR: dir };
  pool.push(startWorker(env, "real-a"), startWorker(env, "real-b"));
  // Generous waits for what is not under test (start-up, training): CI runs this beside the 100-worker
  // PgBouncer test, and two cores shared with a hundred starting processes make everything slow.
  await Promise.all(pool.map((w) => w.waitFor(/ready/, 120_000)));
  const [id] = await enqueueRuns(db.sql, [{ name: "kill -9", spec: parsed.spec, epochs: EPOCHS }]);

  // Kill whichever worker took it, once an epoch is checkpointed (so there is something to resume from).
  await eventually("epoch 1 checkpointed", async () => {
    const [r] = await db.sql`select checkpoint_epoch from runs where id = ${id!}`;
    return (r!.checkpoint_epoch ?? 0) >= 1;
  }, 120_000);
  const [{ worker_id: first }] = await db.sql`select worker_id from runs where id = ${id!}` as unknown as [{ worker_id: string }];
  const victim = pool.find((w) => w.id === first)!;
  const survivor = pool.find((w) => w.id !== first)!;
  const [before] = await db.sql`select checkpoint_epoch, state from runs where id = ${id!}`;
  assert.equal(before!.state, "running");
  victim.child.kill("SIGKILL");
  const killedAt = Date.now();
  assert.equal((await victim.exited).signal, "SIGKILL");

  const reapedMs = await eventually("the run back in the queue", async () => {
    const [a] = await db.sql`select outcome from run_attempts where run_id = ${id!} and attempt = 1`;
    return a!.outcome === "lease_expired" ? Date.now() - killedAt : undefined;
  }, 30_000);
  const limitMs = (LEASE_S + HEARTBEAT_S * 1.2) * 1000 + 1000; // the reaper runs every HEARTBEAT_S ± 20 %, plus slack
  assert.ok(reapedMs <= limitMs, `back in the queue after ${reapedMs} ms, over LEASE_S + reaper interval (${limitMs} ms)`);

  await eventually("the run to succeed", async () => {
    const [r] = await db.sql`select state from runs where id = ${id!}`;
    return r!.state === "succeeded";
  }, 120_000).catch((e) => {
    throw new Error(`${(e as Error).message}; the survivor's log:\n${survivor.output().split("\n").slice(-30).join("\n")}`);
  });
  const line = await survivor.waitFor(new RegExp(`run ${id} attempt 2: started from checkpoint`));
  assert.match(line, /a1-e[1-9]-b0\.ckpt/, "resumed from the first attempt's epoch checkpoint");
  const [run] = await db.sql`select attempt, worker_id, checkpoint_epoch from runs where id = ${id!}`;
  // The final epoch is recorded without a checkpoint (nothing resumes past it): the pointer stays on the one before.
  assert.deepEqual({ ...run }, { attempt: 2, worker_id: survivor.id, checkpoint_epoch: EPOCHS - 1 });
  const epochs = await db.sql`select epoch, attempt from epoch_metrics where run_id = ${id!} order by epoch`;
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2, 3, 4], "one metrics row per epoch");
  assert.equal(epochs[0]!.attempt, 1, "epoch 1 came from the killed worker and was not redone");
  const attempts = await db.sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id!} order by attempt`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [
    { attempt: 1, worker_id: victim.id, outcome: "lease_expired" },
    { attempt: 2, worker_id: survivor.id, outcome: "succeeded" },
  ]);
  // The last checkpoint (the epoch before the final one) is left, each newer one having replaced the one
  // before it; at most one file of the killed attempt may remain (written, but killed before its pointer
  // moved: never resumed from). The survivor deletes the older ones just after it records the success
  // (RunCheckpoints.finish).
  const final = `a2-e${EPOCHS - 1}-b0.ckpt`;
  const collected = (files: string[]) =>
    files.includes(final) && files.length <= 2 && files.every((f) => f === final || f.startsWith("a1-"));
  let files: string[] = [];
  await eventually("the older checkpoints to be deleted", async () => collected(files = await readdir(path.join(dir, id!))), 15_000)
    .catch(() => assert.fail(`checkpoints left: ${files.join(", ")}`));
  console.log(`# kill -9: back in the queue after ${reapedMs} ms (LEASE_S ${LEASE_S}, reaper every ~${HEARTBEAT_S} s)`);
});
