// Workers listen only while idle and once a run has lasted a second (worker/runner/worker-loop.ts):
// Postgres wakes every listening backend of the database for every NOTIFY, and each woken backend
// reads the notification queue in a transaction of its own. Real worker processes (TRAINER=fake), real
// Postgres:
// - draining a backlog of short runs, the database commits about as many transactions per run with 12
//   workers as the runs' own statements need (it was 40-60 per run at 20 workers when busy workers
//   listened);
// - a cancel still reaches a busy worker at once: through NOTIFY once the run has lasted a second, and
//   before that through the renewal that starting to listen makes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cancelRun } from "../shared/queue/cancel-run.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { committedTransactions } from "./helpers/committed-transactions.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import { eventually, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-listen-idle");

function worker(id: string, env: Record<string, string>): WorkerProcess {
  // A heartbeat far off (10 s): a cancel seen sooner came through NOTIFY or the renewal on listening.
  const w = startWorker({ DATABASE_URL: fx.db.url, CHECKPOINT_DIR: fx.dir, TRAINER: "fake", LEASE_S: "30", HEARTBEAT_S: "10", ...env }, id);
  fx.workers.push(w);
  return w;
}

async function runState(id: string): Promise<string> {
  const [r] = await fx.db.sql`select state from runs where id = ${id}`;
  return r!.state as string;
}

test("12 workers draining 300 short runs: busy workers do not listen, so transactions per run do not grow with the workers", { timeout: 90_000 }, async () => {
  const N = 12;
  const RUNS = 300;
  const pool = Array.from({ length: N }, (_, i) => worker(`fan-${i}`, { FAKE_BATCH_MS: "0", FAKE_BATCHES: "1", POLL_MS: "5000" }));
  await Promise.all(pool.map((w) => w.waitFor(/ready/, 60_000)));
  const xacts = () => committedTransactions(fx.db);
  // Counts the workers' start-up reported late are taken as from the drain: a few per worker at most.
  const x0 = await xacts();
  await enqueueRuns(fx.db.sql, Array.from({ length: RUNS }, () => ({ spec: { schedule: "[1e-3, 0]lin[1e-3, 1]" }, epochs: 1 })));
  await eventually("the backlog drained", async () => {
    const [r] = await fx.db.sql`select count(*)::int as n from runs where state in ('queued', 'running')`;
    return r!.n === 0;
  }, 60_000);
  // A backend reports its counts when it has been idle for a while (up to 10 s) or when it exits: stop
  // the workers (their drain adds a few statements each), then read.
  await stopWorkers(pool);
  await new Promise((r) => setTimeout(r, 500));
  // This test's own polling and reading are counted too (a few dozen statements in all).
  const perRun = ((await xacts()) - x0) / RUNS;
  // Through a backlog a one-epoch run commits 2 transactions (the completion with its epoch and the
  // next claim, and its announcement; queue-handoff.test.ts). Listening while busy added one per
  // listening worker per announcement.
  assert.ok(perRun < 8, `${perRun.toFixed(1)} transactions per run with ${N} workers: busy workers are woken by each other's NOTIFYs`);
  console.log(`# ${N} workers, ${RUNS} one-epoch runs: ${perRun.toFixed(1)} transactions per run`);
});

test("a cancel reaches a busy worker at once: by NOTIFY after its first second, by the renewal on listening before", { timeout: 60_000 }, async () => {
  const BATCH_MS = 100;
  const w = worker("cancel-listen", { FAKE_BATCH_MS: String(BATCH_MS), FAKE_BATCHES: "10", POLL_MS: "200" });
  await w.waitFor(/ready/, 30_000);
  const spec = { schedule: "[1e-3, 0]lin[1e-3, 50]" };
  for (const [label, afterMs, how] of [["late", 2500, /cancel requested \(NOTIFY\)/], ["early", 0, /cancel requested \(seen in heartbeat\)/]] as const) {
    const [id] = await enqueueRuns(fx.db.sql, [{ spec, epochs: 50 }]);
    await eventually("the run running", async () => (await runState(id!)) === "running", 20_000);
    await w.waitFor(new RegExp(`run ${id} attempt 1: started`));
    if (afterMs > 0) await new Promise((r) => setTimeout(r, afterMs));
    const t0 = Date.now();
    assert.equal(await cancelRun(fx.db.sql, id!), "requested");
    await eventually("the run cancelled", async () => (await runState(id!)) === "cancelled", 10_000);
    const ms = Date.now() - t0;
    const budget = (afterMs > 0 ? 0 : 1000) + BATCH_MS + 1500; // (listening starts at 1 s) + a batch + the writes, under load
    assert.ok(ms <= budget, `${label} cancel took ${ms} ms, over ${budget} ms (the heartbeat is 10 s away)`);
    const line = await w.waitFor(new RegExp(`run ${id}: cancel requested`));
    assert.match(line, how);
    console.log(`# ${label} cancel (${afterMs} ms into the run): cancelled after ${ms} ms`);
  }
  await stopWorkers([w]);
});
