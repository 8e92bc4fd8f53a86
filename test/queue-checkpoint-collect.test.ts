// Issue 19: what a run's checkpoint collection costs the database. A worker that stores files sends no
// statement about Postgres checkpoints for a run that never had one (each epoch is its recordEpoch and
// the announcement, nothing more); a run that did have one (a mixed fleet) still gets its rows
// collected; and ended runs' rows go in the reaper's sweep, which leaves live runs' rows alone.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { claimRun } from "../shared/queue/claim-run.ts";
import { collectEndedCheckpoints } from "../shared/queue/collect-ended-checkpoints.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { failRun } from "../shared/queue/fail-run.ts";
import type { ClaimedRun, EpochMetrics } from "../shared/queue/queue-types.ts";
import { registerWorker } from "../shared/queue/register-worker.ts";
import { createCheckpointStore } from "../worker/runner/checkpoint-store.ts";
import { RunCheckpoints } from "../worker/runner/run-checkpoints.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

let db: TestDatabase;
let dir: string;
/** Every statement the worker-side client sent, in order (postgres.js's debug hook). */
const sent: string[] = [];
let worker: postgres.Sql;
before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "collect-"));
  worker = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query) => sent.push(query) });
  await registerWorker(db.sql, { id: "w1", host: "test", pid: 1, backend: "fake", device: "none", version: "0" });
});
after(async () => {
  await worker?.end();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

const metrics = (epoch: number): EpochMetrics => ({
  epoch, loss: 1 / epoch, acc: 0.5, valLoss: 1.1 / epoch, valAcc: 0.5, lr: 1e-3, wd: 1.5e-4, seconds: 1, imagesPerSec: 100,
});
const bytes = (epoch: number) => new TextEncoder().encode(`epoch ${epoch}`);
const log = () => {};

async function claimNew(epochs = 3): Promise<ClaimedRun> {
  await db.sql`delete from runs where state = 'queued'`;
  await enqueueRuns(db.sql, [{ epochs }]);
  const run = await claimRun(worker, { workerId: "w1", leaseS: 30 });
  assert.ok(run);
  return run;
}

async function rowsOf(runId: string): Promise<number> {
  const [r] = await db.sql<{ n: number }[]>`select count(*)::int as n from checkpoints where run_id = ${runId}`;
  return r!.n;
}

test("a dir-store worker's epochs and finish send no statement about Postgres checkpoints: per epoch, the recordEpoch and its announcement", async () => {
  const run = await claimNew();
  const checkpoints = new RunCheckpoints(worker, run, createCheckpointStore({ kind: "dir", sql: worker, dir }), log);
  sent.length = 0;
  for (let epoch = 1; epoch <= 3; epoch++) await checkpoints.commitEpoch(metrics(epoch), bytes(epoch));
  await checkpoints.finish();
  await worker`select 1`; // the last announcement is sent without waiting: let it be counted
  const statements = sent.slice(0, -1);
  assert.ok(!statements.some((q) => /\bcheckpoints\b/.test(q)), `no statement on checkpoints expected:\n${statements.join("\n---\n")}`);
  assert.equal(statements.length, 6, `two statements per epoch:\n${statements.join("\n---\n")}`);
  assert.equal(statements.filter((q) => q.includes("insert into epoch_metrics")).length, 3);
  assert.equal(statements.filter((q) => q.includes("pg_notify")).length, 3);
  // The dir store keeps the last file of a finished run and nothing older; the final epoch (3) writes
  // none (nothing resumes past it), so the last is epoch 2's.
  assert.deepEqual(await readdir(path.join(dir, run.runId)), ["a1-e2-b0.ckpt"]);
});

test("a run that held a Postgres checkpoint, resumed by a dir-store worker: the rows of the earlier attempt are collected once the pointers move past them", async () => {
  // Four epochs: epochs 2 and 3 move the pointer (the final one would not).
  const first = await claimNew(4);
  const rowsStore = createCheckpointStore({ kind: "postgres", sql: worker, dir });
  await new RunCheckpoints(worker, first, rowsStore, log).commitEpoch(metrics(1), bytes(1));
  assert.equal(await rowsOf(first.runId), 1);
  // The attempt fails (retryable) and the run is queued again; a worker that stores files claims it.
  await failRun(worker, first, { code: "crashed", message: "test: the attempt crashed" }, { retryable: true });
  await db.sql`update runs set run_after = now() where id = ${first.runId}`;
  const second = await claimRun(worker, { workerId: "w1", leaseS: 30 });
  assert.equal(second?.runId, first.runId);
  assert.match(second!.checkpointPath!, /^postgres:/);
  const checkpoints = new RunCheckpoints(worker, second!, createCheckpointStore({ kind: "dir", sql: worker, dir }), log);
  assert.ok(await checkpoints.load(), "resumes from the Postgres checkpoint");
  await checkpoints.commitEpoch(metrics(2), bytes(2));
  assert.equal(await rowsOf(first.runId), 1, "the Postgres checkpoint is still the previous one: kept");
  await checkpoints.commitEpoch(metrics(3), bytes(3));
  assert.equal(await rowsOf(first.runId), 0, "two files now: the row went");
});

test("the reaper's sweep deletes the rows of ended runs only (and their chunks)", async () => {
  const store = createCheckpointStore({ kind: "postgres", sql: worker, dir });
  const live = await claimNew();
  await new RunCheckpoints(worker, live, store, log).commitEpoch(metrics(1), bytes(1));
  const ended = await claimNew();
  await new RunCheckpoints(worker, ended, store, log).commitEpoch(metrics(1), bytes(1));
  // Ended without collecting (as when the reaper fails a run whose last attempt died).
  await failRun(worker, ended, { code: "diverged", message: "test" }, { retryable: false });
  assert.equal(await rowsOf(ended.runId), 1);
  const [chunks0] = await db.sql<{ n: number }[]>`select count(*)::int as n from checkpoint_chunks`;
  assert.equal(await collectEndedCheckpoints(db.sql), 1);
  assert.equal(await rowsOf(ended.runId), 0);
  assert.equal(await rowsOf(live.runId), 1, "a running run's checkpoint is never swept");
  const [chunks1] = await db.sql<{ n: number }[]>`select count(*)::int as n from checkpoint_chunks`;
  assert.equal(chunks1!.n, chunks0!.n - 1, "its chunks go with it");
  assert.equal(await collectEndedCheckpoints(db.sql), 0);
});
