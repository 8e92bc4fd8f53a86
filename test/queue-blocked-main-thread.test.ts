// A synchronous training step blocks the worker's main thread for longer than a lease (a ResNet56 step
// on wasm takes 8–30 s). Heartbeats run on their own thread, so the worker keeps its run: another live
// worker, whose reaper would take an expired run, never gets it.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually, FAST_QUEUE_ENV, startWorker } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-blocked");
const started = fx.workers;
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

const LEASE_S = Number(FAST_QUEUE_ENV.LEASE_S);
const BLOCK_MS = 2 * LEASE_S * 1000;

test("a main thread blocked for two leases per batch keeps its run's lease, and the run completes on attempt 1", { timeout: 90_000 }, async () => {
  const base = { DATABASE_URL: db.url, TRAINER: "fake", CHECKPOINT_DIR: dir, FAKE_BATCH_MS: "10" };
  const blocked = startWorker({ ...base, FAKE_BATCHES: "2", FAKE_BLOCK_MS: String(BLOCK_MS) }, "blocked");
  started.push(blocked);
  await blocked.waitFor(/ready/, 30_000);
  const [id] = await enqueueRuns(db.sql, [{ spec: { schedule: "[1e-3, 0]lin[1e-3, 1]" }, epochs: 1 }]);
  await blocked.waitFor(/run .* started/);
  // Only now: the bystander must not claim the run first, but its reaper runs from here on.
  const bystander = startWorker(base, "bystander");
  started.push(bystander);
  await bystander.waitFor(/ready/, 30_000);
  const row = await eventually("the run to finish", async () => {
    const [r] = await db.sql`select state, attempt, worker_id from runs where id = ${id!}`;
    return r && r.state !== "running" && r.state !== "queued" ? r : undefined;
  }, 4 * BLOCK_MS + 20_000);
  assert.deepEqual({ ...row }, { state: "succeeded", attempt: 1, worker_id: "blocked" });
  const attempts = await db.sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id!}`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [{ attempt: 1, worker_id: "blocked", outcome: "succeeded" }]);
  assert.doesNotMatch(blocked.output(), /abandoned|lease lost|Lost the lease/);
  assert.doesNotMatch(bystander.output(), /reaped/);
});
