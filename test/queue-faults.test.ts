// Faults with real worker processes (fake trainer, short leases): a frozen worker past its lease, a
// drain on SIGTERM, a cancel while the LISTEN connection is down, a diverging run.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import {
  eventually,
  FAST_QUEUE_ENV,
  startWorker,
  stopWorkers,
  type WorkerProcess,
} from "./helpers/worker-process.ts";

const fx = queueFixture("queue-faults");
const started = fx.workers;
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

const BATCH_MS = 100;
const BATCHES = 5;
const LEASE_S = Number(FAST_QUEUE_ENV.LEASE_S);
const HEARTBEAT_S = Number(FAST_QUEUE_ENV.HEARTBEAT_S);

async function worker(id: string): Promise<WorkerProcess> {
  const w = startWorker({
    DATABASE_URL: db.url,
    TRAINER: "fake",
    FAKE_BATCH_MS: String(BATCH_MS),
    FAKE_BATCHES: String(BATCHES),
    CHECKPOINT_DIR: dir,
  }, id);
  started.push(w);
  await w.waitFor(/ready/, 30_000);
  return w;
}

/** A run of `epochs`; an `alpha` of 1 or more makes the fake trainer's loss NaN (a small λ keeps the spec valid). */
async function enqueue(epochs: number, alpha = 1e-3): Promise<string> {
  const [id] = await enqueueRuns(db.sql, [{
    spec: { schedule: `[${alpha}, 0]lin[${alpha}, ${epochs}]`, optimizer: { alpha, ...(alpha >= 1 ? { lambda: 0.01 } : {}) } },
    epochs,
  }]);
  return id!;
}

async function runRow(id: string) {
  const [r] = await db
    .sql`select state, attempt, releases, worker_id, checkpoint_path, checkpoint_epoch, error from runs where id = ${id}`;
  return r!;
}

async function epochRows(id: string) {
  return (await db.sql`select epoch, attempt from epoch_metrics where run_id = ${id} order by epoch`).map((
    r,
  ) => ({ ...r }));
}

test(
  "SIGSTOP past the lease, SIGCONT: the run moved on, the frozen worker's writes are rejected and it abandons the run",
  { timeout: 60_000 },
  async () => {
    const a = await worker("stop-a");
    const pool = [a];
    try {
      const id = await enqueue(6);
      await eventually("epoch 1 from worker a", async () => (await epochRows(id)).length >= 1);
      a.child.kill("SIGSTOP");
      const stoppedAt = Date.now();
      const b = await worker("stop-b");
      pool.push(b);
      const taken = await eventually("the run claimed again by b", async () => {
        const r = await runRow(id);
        return r.worker_id === "stop-b" && r.state === "running" ? r : undefined;
      }, 30_000);
      assert.equal(taken.attempt, 2);
      const reclaimedMs = Date.now() - stoppedAt;
      a.child.kill("SIGCONT");
      // Its first write on waking (the renewal it owes, or the write it was frozen in) is rejected by the
      // database: the run has a new token.
      await a.waitFor(/abandoned, lease lost: .* matched no running row/, 10_000);
      await eventually("the run to succeed", async () => (await runRow(id)).state === "succeeded", 30_000);
      // a is alive and well after abandoning (it did not crash), and it wrote nothing after losing the run.
      assert.equal(a.child.exitCode, null);
      const rows = await epochRows(id);
      assert.deepEqual(rows.map((r) => r.epoch), [1, 2, 3, 4, 5, 6], "one metrics row per epoch");
      const [late] = await db.sql`
    select count(*)::int as n from run_events
    where run_id = ${id} and (payload->>'attempt')::int = 1
      and seq > (select min(seq) from run_events where run_id = ${id} and payload->>'reason' = 'lease_expired')`;
      assert.equal(late!.n, 0, "no event of attempt 1 after the run was reaped");
      const attempts = await db
        .sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id} order by attempt`;
      assert.deepEqual(attempts.map((r) => ({ ...r })), [
        { attempt: 1, worker_id: "stop-a", outcome: "lease_expired" },
        { attempt: 2, worker_id: "stop-b", outcome: "succeeded" },
      ]);
      console.log(`# frozen worker's run claimed again after ${reclaimedMs} ms (LEASE_S ${LEASE_S})`);
    } finally {
      await stopWorkers(pool);
    }
  },
);

test(
  "SIGTERM mid-run: the run is released without spending an attempt and resumed elsewhere from its checkpoint, nothing duplicated",
  { timeout: 60_000 },
  async () => {
    const pool = [await worker("term-a"), await worker("term-b")];
    try {
      const id = await enqueue(4);
      await eventually("epoch 1", async () => (await epochRows(id)).length >= 1);
      await new Promise((r) => setTimeout(r, BATCH_MS * 2.5)); // into epoch 2
      const first = (await runRow(id)).worker_id as string;
      const [a, b] = first === "term-a" ? pool as [WorkerProcess, WorkerProcess] : [pool[1]!, pool[0]!];
      const t0 = Date.now();
      a.child.kill("SIGTERM");
      const exit = await a.exited;
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - t0 < 30_000);
      await eventually(
        "the run to succeed on the other worker",
        async () => (await runRow(id)).state === "succeeded",
        30_000,
      );
      const run = await runRow(id);
      assert.equal(run.attempt, 2);
      assert.equal(run.releases, 1, "the release is not a spent attempt");
      const attempts = await db
        .sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id} order by attempt`;
      assert.deepEqual(attempts.map((r) => ({ ...r })), [
        { attempt: 1, worker_id: a.id, outcome: "released" },
        { attempt: 2, worker_id: b.id, outcome: "succeeded" },
      ]);
      await b.waitFor(new RegExp(`run ${id} attempt 2: started from checkpoint .*a1-e1-b[1-4]\\.ckpt`));
      assert.deepEqual(
        (await epochRows(id)).map((r) => r.epoch),
        [1, 2, 3, 4],
      );
      const [events] = await db
        .sql`select count(*) filter (where type = 'epoch')::int as epochs from run_events where run_id = ${id}`;
      assert.equal(events!.epochs, 4, "each epoch reported once");
    } finally {
      await stopWorkers(pool);
    }
  },
);

test(
  "cancel while the LISTEN connection is terminated: stops within one heartbeat + one batch, state cancelled",
  { timeout: 60_000 },
  async () => {
    const w = await worker("cancel-a");
    try {
      const id = await enqueue(50);
      await eventually("the run running", async () => (await runRow(id)).state === "running");
      await w.waitFor(/started/);
      // Kill the worker's LISTEN connection and cancel in the same transaction: the cancel NOTIFY goes out
      // at commit, when the listening backend is already gone, so only the heartbeat can tell the worker.
      const t0 = Date.now();
      await db.sql.begin(async (tx) => {
        const killed =
          await tx`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ${"worker cancel-a listen"}`;
        assert.equal(killed.length, 1, "the worker's LISTEN connection should exist");
        await tx`update runs set cancel_requested_at = now() where id = ${id}`;
      });
      await eventually("the run cancelled", async () => (await runRow(id)).state === "cancelled", 10_000);
      const ms = Date.now() - t0;
      const budget = HEARTBEAT_S * 1000 * 1.2 + BATCH_MS + 500; // heartbeat (jitter-free) + a batch + the writes
      assert.ok(ms <= budget, `cancelled after ${ms} ms, more than one heartbeat + one batch (${budget} ms)`);
      await w.waitFor(/LISTEN connection lost/);
      await w.waitFor(/cancel requested \(seen in heartbeat\)/);
      const run = await runRow(id);
      assert.ok(run.checkpoint_path, "the stop wrote a checkpoint");
      const [a] = await db.sql`select outcome from run_attempts where run_id = ${id}`;
      assert.equal(a!.outcome, "cancelled");
      console.log(
        `# cancelled ${ms} ms after the request with LISTEN down (heartbeat ${HEARTBEAT_S} s, batch ${BATCH_MS} ms)`,
      );
    } finally {
      await stopWorkers([w]);
    }
  },
);

test(
  "a run whose loss becomes NaN ends failed with reason diverged after one attempt",
  { timeout: 60_000 },
  async () => {
    const w = await worker("nan-a");
    try {
      const id = await enqueue(3, 10);
      await eventually("the run failed", async () => (await runRow(id)).state === "failed", 20_000);
      const run = await runRow(id);
      assert.equal(run.error.code, "diverged");
      assert.equal(run.attempt, 1);
      const attempts = await db
        .sql`select attempt, outcome, error->>'code' as code from run_attempts where run_id = ${id}`;
      assert.deepEqual(attempts.map((r) => ({ ...r })), [{
        attempt: 1,
        outcome: "failed",
        code: "diverged",
      }]);
      const [ev] = await db
        .sql`select payload from run_events where run_id = ${id} order by seq desc limit 1`;
      assert.equal(ev!.payload.state, "failed");
      assert.equal(ev!.payload.reason, "diverged");
    } finally {
      await stopWorkers([w]);
    }
  },
);
