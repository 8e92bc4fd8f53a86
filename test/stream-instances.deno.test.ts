// Several API instances on one Postgres, and the ways the fast path can break: each instance delivers
// every durable event, a worker connected to one feeds both (durable events via NOTIFY, progress via
// the relay), a killed worker socket loses nothing and slows nothing, and a killed LISTEN connection
// is re-established and caught up from the table.
import assert from "node:assert/strict";
import {
  createToken,
  DrivenRun,
  insertRun,
  sleep,
  startStreamServer,
  storedMessages,
  Subscriber,
} from "../api/streams/stream-test-kit.ts";
import { WorkerStream } from "../worker/stream/worker-stream.ts";
import { createTestDatabase } from "./helpers/test-database.ts";

const db = await createTestDatabase();
const a = await startStreamServer(db.url, { instanceId: "api-a" });
const b = await startStreamServer(db.url, { instanceId: "api-b" });
const readToken = await createToken(db.sql, ["read"]);
const workerToken = await createToken(db.sql, ["worker"]);

Deno.test.afterAll(async () => {
  await a.close();
  await b.close();
  await db.drop();
});

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

async function connectedWorker(apiUrl: string): Promise<WorkerStream> {
  const worker = new WorkerStream({ apiUrl, token: workerToken, minBackoffMs: 20, maxBackoffMs: 200 });
  worker.start();
  while (!worker.connected) await sleep(5);
  return worker;
}

/** One subscriber to the run's stream on each instance, both connected. */
async function subscribeOnBoth(runId: string): Promise<[Subscriber, Subscriber]> {
  const subs = [a, b].map((server) => new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken));
  await Promise.all(subs.map((s) => s.opened));
  return [subs[0]!, subs[1]!];
}

test("two instances each deliver every durable event; a worker connected to one feeds both", async () => {
  const worker = await connectedWorker(a.url);
  const runId = await insertRun(db.sql);
  const [onA, onB] = await subscribeOnBoth(runId);
  const run = new DrivenRun(db.sql, runId, worker);
  await run.claim();
  for (let epoch = 1; epoch <= 10; epoch++) {
    await run.epoch(epoch);
    run.progress(epoch + 1, 50);
    await sleep(10);
  }
  await run.complete();
  assert.equal((await onA.closed).code, 1000);
  assert.equal((await onB.closed).code, 1000);
  const stored = await storedMessages(db.sql, runId);
  assert.equal(stored.length, 12);
  assert.deepEqual(onA.durable(), stored);
  assert.deepEqual(onB.durable(), stored);
  // Progress exists only on the worker's socket to A; B has it through the relay.
  const progressOf = (s: Subscriber) => s.messages.filter((m) => m.type === "progress");
  assert.ok(progressOf(onA).length >= 5, `A got ${progressOf(onA).length} progress messages`);
  assert.ok(progressOf(onB).length >= 5, `B got ${progressOf(onB).length} progress messages`);
  await worker.close();
});

test("the worker's socket killed mid-run: subscribers still get every epoch via NOTIFY, the run is not slowed", async () => {
  const worker = await connectedWorker(a.url);
  const runId = await insertRun(db.sql);
  const [onA, onB] = await subscribeOnBoth(runId);
  const run = new DrivenRun(db.sql, runId, worker);
  await run.claim();
  // "Not slowed": a worker's only contact with the socket is publish(), which must return at once,
  // up or down (commit times themselves are the disk's: fsync varies 4-80 ms on this machine).
  const publishMs: number[] = [];
  const step = async (epoch: number) => {
    await run.epoch(epoch);
    const t0 = performance.now();
    for (let batch = 1; batch <= 20; batch++) run.progress(epoch + 1, batch);
    publishMs.push(performance.now() - t0);
  };
  for (let epoch = 1; epoch <= 5; epoch++) await step(epoch);
  worker.kill();
  await worker.close(); // and it stays down for the rest of the run
  const droppedBefore = worker.stats.dropped;
  for (let epoch = 6; epoch <= 10; epoch++) await step(epoch);
  await run.complete();
  assert.equal((await onA.closed).code, 1000);
  assert.equal((await onB.closed).code, 1000);
  const stored = await storedMessages(db.sql, runId);
  assert.deepEqual(onA.durable(), stored);
  assert.deepEqual(onB.durable(), stored);
  assert.deepEqual(onA.durable().filter((m) => m.type === "epoch").map((m) => m.epoch), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
  ]);
  // Down, every publish is dropped at once: 5 events + 100 progress messages, none waited for.
  assert.equal(worker.stats.dropped - droppedBefore, 105);
  const slowest = (xs: number[]) => Math.max(...xs).toFixed(3);
  const down = publishMs.slice(5);
  assert.ok(
    Math.max(...down) < 5,
    `publishing 20 progress messages while down took up to ${slowest(down)} ms`,
  );
  console.log(
    `20 progress publishes took at most ${slowest(publishMs.slice(0, 5))} ms with the socket up, ` +
      `${slowest(publishMs.slice(5))} ms with it down`,
  );
});

test("a killed LISTEN connection is re-established and the missed events are read from the table", async () => {
  const runId = await insertRun(db.sql);
  const [onA, onB] = await subscribeOnBoth(runId);
  const run = new DrivenRun(db.sql, runId); // no worker socket: NOTIFY is the only way
  await run.claim();
  await run.epoch(1);
  const listensBefore = a.hub.stats().listens + b.hub.stats().listens;
  const killed = await db.sql`
    select pg_terminate_backend(pid) from pg_stat_activity
    where datname = current_database() and query ilike 'listen%'`;
  assert.ok(killed.length >= 2, `terminated ${killed.length} LISTEN connections`);
  // Written while nobody listens.
  for (let epoch = 2; epoch <= 4; epoch++) await run.epoch(epoch);
  await run.complete();
  assert.equal((await onA.closed).code, 1000);
  assert.equal((await onB.closed).code, 1000);
  const stored = await storedMessages(db.sql, runId);
  assert.deepEqual(onA.durable(), stored);
  assert.deepEqual(onB.durable(), stored);
  assert.ok(a.hub.stats().listens + b.hub.stats().listens > listensBefore, "the hubs listened again");
});
