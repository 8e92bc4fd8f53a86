// Damaged checkpoints and a full disk, with real worker processes (TRAINER=fake: training is not the
// point here, the checkpoint bytes and the queue are), real Postgres and kill -9:
// - a truncated checkpoint file (dir store) and bytes overwritten in place (postgres store) are caught
//   by the checksum: the next attempt falls back to the previous checkpoint, or starts over when both
//   are damaged, and says so in an event, the attempt's error and the log;
// - a checkpoint that passes its checksum but cannot be decoded fails the run at once (no retry);
// - a checkpoint directory on a tiny tmpfs: the epoch whose checkpoint cannot be written is never
//   reported, by any attempt.
// Each epoch is recorded and streamed (one durable `epoch` event) exactly once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { before, test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { sealCheckpoint } from "../worker/train/checkpoint-seal.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const fx = queueFixture("checkpoint-damage");
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

const EPOCHS = 5;
const FAKE = { TRAINER: "fake", FAKE_BATCHES: "4", FAKE_BATCH_MS: "40" };

function worker(id: string, env: Record<string, string> = {}): WorkerProcess {
  const w = startWorker({ DATABASE_URL: db.url, CHECKPOINT_DIR: dir, ...FAKE, ...env }, id);
  fx.workers.push(w);
  return w;
}

async function enqueue(): Promise<string> {
  const [id] = await enqueueRuns(db.sql, [{ spec: { schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]` }, epochs: EPOCHS }]);
  return id!;
}

async function runRow(id: string) {
  const [r] = await db.sql`select state, attempt, checkpoint_path, checkpoint_previous, checkpoint_epoch, error from runs where id = ${id}`;
  return r!;
}

/** Each epoch's metrics rows and durable `epoch` events (what the API streams), per epoch. */
async function epochCounts(id: string): Promise<{ rows: number[]; events: number[] }> {
  const rows = await db.sql`select epoch from epoch_metrics where run_id = ${id} order by epoch`;
  const events = await db.sql`select (payload->>'epoch')::int as epoch from run_events where run_id = ${id} and type = 'epoch' order by seq`;
  return { rows: rows.map((r) => r.epoch as number), events: events.map((e) => e.epoch as number) };
}

/** Lets the first worker checkpoint at least two epochs, kills it with SIGKILL, returns the run row. */
async function killAfterTwoEpochs(id: string, w: WorkerProcess) {
  await eventually("two epochs checkpointed", async () => ((await runRow(id)).checkpoint_epoch ?? 0) >= 2, 30_000);
  w.child.kill("SIGKILL");
  await w.exited;
  const run = await runRow(id);
  assert.equal(run.state, "running");
  assert.ok(run.checkpoint_previous, "the previous checkpoint is kept");
  return run;
}

/** Starts the second worker and waits for the run to end; prints what it took. */
async function resume(id: string, label: string, killedAt: number, env: Record<string, string> = {}) {
  const b = worker(`${label}-b`, env);
  const line = await b.waitFor(new RegExp(`run ${id} attempt 2: damaged checkpoint`), 30_000);
  const detectedMs = Date.now() - killedAt;
  await eventually("the run to end", async () => ["succeeded", "failed"].includes((await runRow(id)).state as string), 30_000);
  const doneMs = Date.now() - killedAt;
  console.log(`# ${label}: damage detected ${detectedMs} ms after the kill (lease expiry included), run finished after ${doneMs} ms`);
  await stopWorkers([b]);
  return { line, b };
}

async function assertRecoveredOnce(id: string) {
  const run = await runRow(id);
  assert.equal(run.state, "succeeded");
  assert.equal(run.attempt, 2);
  const { rows, events } = await epochCounts(id);
  assert.deepEqual(rows, [1, 2, 3, 4, 5], "one metrics row per epoch");
  assert.deepEqual(events, [1, 2, 3, 4, 5], "each epoch streamed once");
  const attempts = await db.sql`select attempt, outcome, error->>'code' as code from run_attempts where run_id = ${id} order by attempt`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [
    { attempt: 1, outcome: "lease_expired", code: "lease_expired" },
    { attempt: 2, outcome: "succeeded", code: "checkpoint_damaged" },
  ]);
  const damaged = await db.sql`select payload from run_events where run_id = ${id} and type = 'checkpoint_damaged'`;
  assert.equal(damaged.length, 1);
  return damaged[0]!.payload as { damaged: { ref: string; problem: string }[]; resumedFrom: string | null; resumedEpoch: number };
}

test("a truncated checkpoint file is never trained from: the next attempt falls back to the previous one, each epoch once", { timeout: 90_000 }, async () => {
  const id = await enqueue();
  const a = worker("trunc-a");
  const run = await killAfterTwoEpochs(id, a);
  const killedAt = Date.now();
  const file = run.checkpoint_path as string;
  const size = (await readFile(file)).length;
  await truncate(file, Math.floor(size / 2));
  const { line } = await resume(id, "truncated", killedAt);
  assert.match(line, /checksum|no checksum header/);
  assert.match(line, new RegExp(`falling back to the previous checkpoint ${run.checkpoint_previous}`));
  const event = await assertRecoveredOnce(id);
  assert.equal(event.resumedFrom, run.checkpoint_previous);
  assert.equal(event.resumedEpoch, (run.checkpoint_epoch as number) - 1);
  assert.deepEqual(event.damaged.map((d) => d.ref), [file]);
});

test("bytes overwritten in place in the Postgres store (same length) are caught by the checksum: fallback, each epoch once", { timeout: 90_000 }, async () => {
  const id = await enqueue();
  const a = worker("over-a", { CHECKPOINT_STORE: "postgres" });
  const run = await killAfterTwoEpochs(id, a);
  const killedAt = Date.now();
  const ref = run.checkpoint_path as string;
  assert.match(ref, /^postgres:/);
  const [before] = await db.sql`select length(data) as n from checkpoint_chunks where checkpoint_id = ${ref.slice(9)}::uuid and n = 0`;
  await db.sql`update checkpoint_chunks set data = overlay(data placing '\\xdeadbeef'::bytea from 45)
    where checkpoint_id = ${ref.slice(9)}::uuid and n = 0`;
  const [after] = await db.sql`select length(data) as n from checkpoint_chunks where checkpoint_id = ${ref.slice(9)}::uuid and n = 0`;
  assert.equal(after!.n, before!.n, "same length");
  const { line } = await resume(id, "overwritten", killedAt, { CHECKPOINT_STORE: "postgres" });
  assert.match(line, /checksum mismatch/);
  const event = await assertRecoveredOnce(id);
  assert.equal(event.resumedFrom, run.checkpoint_previous);
  // The run succeeded: the postgres store keeps nothing of it (deleted just after the success is recorded).
  await eventually("the finished run's checkpoints to be deleted", async () => {
    const [left] = await db.sql`select count(*)::int as n from checkpoints where run_id = ${id}`;
    return left!.n === 0;
  }, 15_000);
});

test("both kept checkpoints damaged: the attempt starts over, says so, and reports no epoch twice", { timeout: 90_000 }, async () => {
  const id = await enqueue();
  const a = worker("both-a");
  const run = await killAfterTwoEpochs(id, a);
  const killedAt = Date.now();
  for (const file of [run.checkpoint_path, run.checkpoint_previous] as string[]) {
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 0xff; // one flipped bit pattern, same length
    await writeFile(file, bytes);
  }
  const { line } = await resume(id, "both-damaged", killedAt);
  assert.match(line, /starting over from epoch 1/);
  const event = await assertRecoveredOnce(id);
  assert.equal(event.resumedFrom, null);
  assert.equal(event.damaged.length, 2);
});

test("a checkpoint that passes its checksum but cannot be decoded fails the run at once with checkpoint_unloadable", { timeout: 60_000 }, async () => {
  const id = await enqueue();
  // Point the queued run at well-sealed garbage, as a buggy or foreign writer would leave it.
  const file = path.join(dir, id, "a0-e1-b0.ckpt");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, sealCheckpoint(new TextEncoder().encode("not a checkpoint of any trainer")));
  await db.sql`update runs set checkpoint_path = ${file}, checkpoint_epoch = 1 where id = ${id}`;
  const w = worker("unloadable-a");
  await eventually("the run failed", async () => (await runRow(id)).state === "failed", 30_000);
  const run = await runRow(id);
  assert.equal(run.attempt, 1, "not retried");
  assert.equal((run.error as { code: string }).code, "checkpoint_unloadable");
  await w.waitFor(new RegExp(`run ${id} attempt 1: failed \\(checkpoint_unloadable\\)`));
  await stopWorkers([w]);
});

test("checkpoint dir on a tiny tmpfs: the epoch whose checkpoint cannot be written is never reported, by any attempt", { timeout: 90_000 }, async (t) => {
  const mnt = path.join(dir, "tiny");
  await mkdir(mnt, { recursive: true });
  try {
    // Room for two ~100 KB checkpoints (the two kept), not for a third.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], { stdio: "pipe" });
  } catch (e) {
    t.skip(`needs root to mount a tmpfs (mount -t tmpfs): ${(e as Error).message.split("\n")[0]}`);
    return;
  }
  try {
    const id = await enqueue();
    const w = worker("tmpfs-a", { CHECKPOINT_DIR: mnt, FAKE_CHECKPOINT_BYTES: "100000" });
    const t0 = Date.now();
    await eventually("the run to fail", async () => (await runRow(id)).state === "failed", 60_000);
    const run = await runRow(id);
    assert.equal((run.error as { code: string }).code, "attempts_exhausted");
    const { rows, events } = await epochCounts(id);
    assert.deepEqual(rows, [1, 2], "epochs 1-2 recorded once; epoch 3's checkpoint never landed, so it is not reported");
    assert.deepEqual(events, [1, 2], "each epoch streamed once");
    const attempts = await db.sql`select attempt, outcome, error->>'message' as message from run_attempts where run_id = ${id} order by attempt`;
    assert.equal(attempts.length, 3, "max_attempts");
    for (const a of attempts) {
      assert.equal(a.outcome, "failed");
      assert.match(a.message as string, /ENOSPC/);
    }
    assert.match(w.output(), /failed \(crashed, retryable\): ENOSPC/);
    assert.doesNotMatch(w.output(), /fatal/, "the worker stays up");
    assert.equal(run.checkpoint_epoch, 2);
    console.log(`# tiny tmpfs: ENOSPC on epoch 3's checkpoint in all 3 attempts, run failed after ${Date.now() - t0} ms`);
    await stopWorkers([w]);
  } finally {
    await stopWorkers(fx.workers);
    execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
    await rm(mnt, { recursive: true, force: true });
  }
});
