// The final epoch is recorded without a checkpoint (worker/runner/run-checkpoints.ts): nothing resumes
// past it. Real worker processes (TRAINER=fake), real Postgres, kill -9:
// - a worker killed after the final epoch is recorded but before the run completed (FAKE_FINAL_MS holds
//   it where the real trainer evaluates the test set): the next attempt resumes from the epoch before,
//   trains the final epoch again without reporting it, and the run succeeds with each epoch recorded
//   and streamed (one durable `epoch` event) exactly once;
// - a one-epoch run never touches the checkpoint store.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import { eventually, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-final-epoch");

const FAKE = { TRAINER: "fake", FAKE_BATCHES: "2", FAKE_BATCH_MS: "30" };

function worker(id: string, env: Record<string, string> = {}): WorkerProcess {
  const w = startWorker({ DATABASE_URL: fx.db.url, CHECKPOINT_DIR: fx.dir, ...FAKE, ...env }, id);
  fx.workers.push(w);
  return w;
}

async function enqueue(epochs: number): Promise<string> {
  const [id] = await enqueueRuns(fx.db.sql, [{ spec: { schedule: `[1e-3, 0]lin[1e-3, ${epochs}]` }, epochs }]);
  return id!;
}

async function runRow(id: string) {
  const [r] = await fx.db.sql`select state, attempt, checkpoint_path, checkpoint_epoch from runs where id = ${id}`;
  return r!;
}

async function files(id: string): Promise<string[]> {
  return await readdir(path.join(fx.dir, id)).catch(() => []);
}

test("kill -9 after the final epoch is recorded, before completion: the next attempt retrains it unreported, each epoch once", { timeout: 60_000 }, async () => {
  const EPOCHS = 3;
  const id = await enqueue(EPOCHS);
  const a = worker("final-a", { FAKE_FINAL_MS: "60000" });
  await eventually("the final epoch recorded", async () => {
    const [m] = await fx.db.sql`select count(*)::int as n from epoch_metrics where run_id = ${id} and epoch = ${EPOCHS}`;
    return m!.n === 1;
  }, 30_000);
  const atKill = await runRow(id);
  assert.equal(atKill.state, "running", "the run is between its final epoch and its completion");
  assert.equal(atKill.checkpoint_epoch, EPOCHS - 1, "the final epoch moved no pointer");
  assert.deepEqual((await files(id)).filter((f) => f.includes(`-e${EPOCHS}-`)), [], "and wrote no checkpoint");
  a.child.kill("SIGKILL");
  const killedAt = Date.now();
  assert.equal((await a.exited).signal, "SIGKILL");

  const b = worker("final-b");
  await eventually("the run to succeed", async () => (await runRow(id)).state === "succeeded", 30_000)
    .catch((e) => assert.fail(`${(e as Error).message}; b's log:\n${b.output()}`));
  const line = await b.waitFor(new RegExp(`run ${id} attempt 2: started from checkpoint`));
  assert.match(line, new RegExp(`a1-e${EPOCHS - 1}-b0\\.ckpt`), "resumed from the epoch before the final one");

  const rows = await fx.db.sql`select epoch, attempt from epoch_metrics where run_id = ${id} order by epoch`;
  assert.deepEqual(rows.map((r) => [r.epoch, r.attempt]), [[1, 1], [2, 1], [3, 1]], "one row per epoch, the first record kept");
  const events = await fx.db.sql`
    select (payload->>'epoch')::int as epoch, (payload->>'attempt')::int as attempt
    from run_events where run_id = ${id} and type = 'epoch' order by seq`;
  assert.deepEqual(events.map((e) => [e.epoch, e.attempt]), [[1, 1], [2, 1], [3, 1]], "each epoch streamed once");
  const states = await fx.db.sql`select payload->>'state' as state from run_events where run_id = ${id} and type = 'state' order by seq`;
  assert.deepEqual(states.map((s) => s.state), ["running", "queued", "running", "succeeded"]);
  const attempts = await fx.db.sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id} order by attempt`;
  assert.deepEqual(attempts.map((r) => ({ ...r })), [
    { attempt: 1, worker_id: "final-a", outcome: "lease_expired" },
    { attempt: 2, worker_id: "final-b", outcome: "succeeded" },
  ]);
  await b.waitFor(new RegExp(`run ${id} attempt 2: final epoch ${EPOCHS} trained again; its first record stands`));
  const run = await runRow(id);
  assert.equal(run.attempt, 2);
  assert.equal(run.checkpoint_epoch, EPOCHS - 1);
  console.log(`# final epoch: killed after its record, run succeeded on another worker ${Date.now() - killedAt} ms later (lease expiry included)`);
  await stopWorkers([b]);
});

test("a one-epoch run writes no checkpoint and records its epoch once", { timeout: 30_000 }, async () => {
  const id = await enqueue(1);
  const w = worker("one-a");
  await eventually("the run to succeed", async () => (await runRow(id)).state === "succeeded", 20_000);
  const run = await runRow(id);
  assert.equal(run.checkpoint_path, null);
  assert.equal(run.checkpoint_epoch, null);
  assert.deepEqual(await files(id), [], "no checkpoint file");
  const events = await fx.db.sql`select type from run_events where run_id = ${id} order by seq`;
  assert.deepEqual(events.map((e) => e.type), ["state", "epoch", "state"]);
  await stopWorkers([w]);
});
