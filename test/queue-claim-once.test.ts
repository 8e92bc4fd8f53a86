// 20 real worker processes and 500 fake runs: every run executes exactly once, none is lost.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually, startWorker, stopWorkers } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-claim-once");
const workers = fx.workers;
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

test("20 worker processes claim 500 runs: each runs exactly once (one claim log row), none is lost", { timeout: 90_000 }, async () => {
  const env = { DATABASE_URL: db.url, TRAINER: "fake", FAKE_BATCH_MS: "2", FAKE_BATCHES: "2", CHECKPOINT_DIR: dir };
  for (let i = 0; i < 20; i++) workers.push(startWorker(env, `w${String(i).padStart(2, "0")}`));
  await Promise.all(workers.map((w) => w.waitFor(/ready/, 60_000)));
  const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]", optimizer: { alpha: 1e-3 } };
  const t0 = Date.now();
  await enqueueRuns(db.sql, Array.from({ length: 500 }, (_, i) => ({ name: `run ${i}`, spec, epochs: 1 })));
  await eventually("500 succeeded runs", async () => {
    const [r] = await db.sql<{ n: number }[]>`select count(*)::int as n from runs where state = 'succeeded'`;
    return r!.n === 500;
  }, 60_000);
  const seconds = (Date.now() - t0) / 1000;

  const [runs] = await db.sql`
    select count(*)::int as runs, count(*) filter (where attempt = 1)::int as first_attempt,
      count(*) filter (where last_seq = 3)::int as three_events from runs`;
  assert.deepEqual({ ...runs }, { runs: 500, first_attempt: 500, three_events: 500 });
  // The claim log: exactly one claim per run, and every claim ended in success.
  const [log] = await db.sql`
    select count(*)::int as claims, count(distinct run_id)::int as runs,
      count(*) filter (where outcome = 'succeeded')::int as succeeded, count(distinct worker_id)::int as workers
    from run_attempts`;
  assert.equal(log!.claims, 500);
  assert.equal(log!.runs, 500);
  assert.equal(log!.succeeded, 500);
  assert.ok(log!.workers >= 10, `work should spread over the pool, went to ${log!.workers} workers`);
  const [m] = await db.sql`select count(*)::int as n from epoch_metrics`;
  assert.equal(m!.n, 500);
  // Every run's events: running, epoch, succeeded, seq 1..3, from the one claim.
  const [bad] = await db.sql`
    select count(*)::int as n from runs r
    where (select array_agg(type order by seq) from run_events e where e.run_id = r.id) <> array['state','epoch','state']`;
  assert.equal(bad!.n, 0);
  console.log(`# 500 runs on 20 workers in ${seconds.toFixed(1)} s`);

  await stopWorkers(workers);
  for (const w of workers) assert.equal((await w.exited).code, 0, `worker ${w.id} should drain and exit 0`);
  const [gone] = await db.sql`select count(*)::int as n from workers where state = 'gone'`;
  assert.equal(gone!.n, 20);
});
