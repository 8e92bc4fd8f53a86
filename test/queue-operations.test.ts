// The queue's SQL operations against a real Postgres, one at a time and under concurrency: claims,
// fencing, retries, releases, cancels, reapers, events and their NOTIFYs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { appendEvent } from "../shared/queue/append-event.ts";
import { cancelRun } from "../shared/queue/cancel-run.ts";
import { claimRun } from "../shared/queue/claim-run.ts";
import { completeRun, completeRunAndClaim } from "../shared/queue/complete-run.ts";
import { endCancelledRun } from "../shared/queue/end-cancelled-run.ts";
import { enqueueRuns, insertRuns } from "../shared/queue/enqueue-run.ts";
import { parseRunSpec } from "../shared/run-spec.ts";
import { failRun } from "../shared/queue/fail-run.ts";
import { findCompletion } from "../shared/queue/find-completion.ts";
import { heartbeatRun } from "../shared/queue/heartbeat-run.ts";
import { LeaseLostError } from "../shared/queue/lease-lost-error.ts";
import type { ClaimedRun, EpochMetrics } from "../shared/queue/queue-types.ts";
import { reapExpiredRuns } from "../shared/queue/reap-expired-runs.ts";
import { recordEpoch } from "../shared/queue/record-epoch.ts";
import { registerWorker } from "../shared/queue/register-worker.ts";
import { releaseRun } from "../shared/queue/release-run.ts";
import { setCheckpoint } from "../shared/queue/set-checkpoint.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
  for (const id of ["w1", "w2"]) {
    await registerWorker(db.sql, { id, host: "test", pid: 1, backend: "fake", device: "none", version: "0" });
  }
});
after(async () => await db.drop());

const metrics = (epoch: number): EpochMetrics => ({
  epoch, loss: 1 / epoch, acc: 0.5, valLoss: 1.1 / epoch, valAcc: 0.5, lr: 1e-3, wd: 1.5e-4, seconds: 1, imagesPerSec: 100,
});

/** Empties the queue so each test claims only its own runs. */
async function clearQueue(): Promise<void> {
  await db.sql`delete from runs`;
}

async function claim(workerId = "w1", leaseS = 30): Promise<ClaimedRun> {
  const run = await claimRun(db.sql, { workerId, leaseS });
  assert.ok(run, "expected a claimable run");
  return run;
}

async function expire(runId: string): Promise<void> {
  await db.sql`update runs set lease_expires_at = now() - interval '1 second' where id = ${runId}`;
}

test("claimRun takes the highest priority first, then the oldest, and logs the claim with a running event", async () => {
  await clearQueue();
  const [low] = await enqueueRuns(db.sql, [{ name: "low", epochs: 2 }]);
  const [high] = await enqueueRuns(db.sql, [{ name: "high", epochs: 2, priority: 5 }]);
  const [low2] = await enqueueRuns(db.sql, [{ name: "low2", epochs: 2 }]);
  const first = await claim("w1");
  assert.equal(first.runId, high);
  assert.equal(first.attempt, 1);
  assert.ok(first.leaseExpiresAt.getTime() > Date.now() + 25_000);
  assert.equal((await claim("w2")).runId, low);
  assert.equal((await claim("w1")).runId, low2);
  assert.equal(await claimRun(db.sql, { workerId: "w1", leaseS: 30 }), null);

  const [row] = await db.sql`select state, worker_id, attempt, last_seq::int as last_seq from runs where id = ${high!}`;
  assert.deepEqual({ ...row }, { state: "running", worker_id: "w1", attempt: 1, last_seq: 1 });
  const log = await db.sql`select attempt, worker_id, lease_token = ${first.leaseToken}::uuid as token_matches from run_attempts where run_id = ${high!}`;
  assert.deepEqual(log.map((r) => ({ ...r })), [{ attempt: 1, worker_id: "w1", token_matches: true }]);
  const events = await db.sql`select seq::int as seq, type, payload from run_events where run_id = ${high!}`;
  assert.deepEqual(events.map((e) => ({ ...e })), [
    { seq: 1, type: "state", payload: { state: "running", attempt: 1, workerId: "w1" } },
  ]);
  const [w] = await db.sql`select state, current_run_id from workers where id = 'w1'`;
  assert.equal(w!.state, "busy");
});

test("insertRuns: ids in order, columns from the spec, created in the given order; a taken idempotency key inserts nothing and comes back null", async () => {
  const spec = (name: string, priority = 0) => {
    const parsed = parseRunSpec({ name, priority, tags: ["t"], maxAttempts: 2, schedule: "[1e-3, 0]lin[1e-3, 3]" });
    assert.ok(parsed.ok);
    return parsed.spec;
  };
  const [held] = await insertRuns(db.sql, [{ spec: spec("held"), idempotency: { key: "ins-A", requestHash: "h" } }]);
  const ids = await insertRuns(db.sql, [
    { spec: spec("again"), idempotency: { key: "ins-A", requestHash: "h" } },
    { spec: spec("plain", 7) },
    { spec: spec("keyed"), idempotency: { key: "ins-B", requestHash: "h" } },
  ]);
  assert.equal(ids[0], null, "the taken key inserted nothing");
  await assert.rejects(insertRuns(db.sql, [
    { spec: spec("twice"), idempotency: { key: "ins-C", requestHash: "h" } },
    { spec: spec("twice"), idempotency: { key: "ins-C", requestHash: "h" } },
  ]), /an idempotency key appears twice in one batch/);
  const rows = await db.sql`select id, name, priority, tags, max_attempts, epochs, idempotency_key from runs
    where id = any(${[held!, ids[1]!, ids[2]!]}::uuid[]) order by created_at, submit_seq`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [
    { id: held, name: "held", priority: 0, tags: ["t"], max_attempts: 2, epochs: 3, idempotency_key: "ins-A" },
    { id: ids[1], name: "plain", priority: 7, tags: ["t"], max_attempts: 2, epochs: 3, idempotency_key: null },
    { id: ids[2], name: "keyed", priority: 0, tags: ["t"], max_attempts: 2, epochs: 3, idempotency_key: "ins-B" },
  ]);
  await db.sql`delete from runs where id = any(${[held!, ids[1]!, ids[2]!]}::uuid[])`;
});

test("claimRun skips runs whose retry backoff has not elapsed", async () => {
  await clearQueue();
  const [id] = await enqueueRuns(db.sql, [{ epochs: 1 }]);
  await db.sql`update runs set run_after = now() + interval '1 hour' where id = ${id!}`;
  assert.equal(await claimRun(db.sql, { workerId: "w1", leaseS: 30 }), null);
});

test("every fenced write of a stale claim is rejected with LeaseLostError and writes nothing", async () => {
  await clearQueue();
  await enqueueRuns(db.sql, [{ epochs: 3 }]);
  const stale = await claim("w1");
  await expire(stale.runId);
  assert.equal((await reapExpiredRuns(db.sql)).length, 1);
  await db.sql`update runs set run_after = now() where id = ${stale.runId}`;
  const fresh = await claim("w2");
  assert.equal(fresh.attempt, 2);
  const before = await snapshot(stale.runId);

  const writes: [string, () => Promise<unknown>][] = [
    ["heartbeat", () => heartbeatRun(db.sql, stale, 30)],
    ["record epoch", () => recordEpoch(db.sql, stale, metrics(1), { path: "/stale", epoch: 1 })],
    ["append event", () => appendEvent(db.sql, stale, "log", { message: "late" })],
    ["set checkpoint", () => setCheckpoint(db.sql, stale, { path: "/stale", epoch: 1 })],
    ["complete", () => completeRun(db.sql, stale)],
    ["complete with the final epoch", () => completeRun(db.sql, stale, metrics(3))],
    ["fail", () => failRun(db.sql, stale, { code: "crashed", message: "late" }, { retryable: true })],
    ["release", () => releaseRun(db.sql, stale)],
    ["end cancelled", () => endCancelledRun(db.sql, stale)],
  ];
  for (const [what, write] of writes) {
    await assert.rejects(write(), LeaseLostError, `${what} must be fenced off`);
  }
  // The same writes with a right token but the wrong attempt number are fenced too.
  await assert.rejects(recordEpoch(db.sql, { ...fresh, attempt: 1 }, metrics(1), null), LeaseLostError);
  assert.deepEqual(await snapshot(stale.runId), before);
  // The owner's writes go through.
  await recordEpoch(db.sql, fresh, metrics(1), null);
  const [m] = await db.sql`select epoch, attempt from epoch_metrics where run_id = ${fresh.runId}`;
  assert.deepEqual({ ...m }, { epoch: 1, attempt: 2 });
});

test("completeRun with the final epoch records it and ends the run in one statement: epoch event n + 1, succeeded n + 2; a claim returns the last recorded epoch", async () => {
  await clearQueue();
  const [id] = await enqueueRuns(db.sql, [{ epochs: 2 }]);
  const first = await claim();
  assert.equal(first.recordedEpoch, 0);
  await recordEpoch(db.sql, first, metrics(1), { path: "/ck/1", epoch: 1 });
  // The first attempt is lost after epoch 1; the next claim sees it recorded.
  await expire(id!);
  await reapExpiredRuns(db.sql);
  await db.sql`update runs set run_after = now() where id = ${id!}`;
  const run = await claim();
  assert.equal(run.recordedEpoch, 1);
  const seq = await completeRun(db.sql, run, metrics(2));
  const events = await db.sql`select seq::int, type, payload->>'epoch' as epoch, payload->>'state' as state from run_events where run_id = ${id!} order by seq`;
  assert.deepEqual(events.slice(-2).map((e) => ({ ...e })), [
    { seq, type: "epoch", epoch: "2", state: null },
    { seq: seq! + 1, type: "state", epoch: null, state: "succeeded" },
  ]);
  const rows = await db.sql`select epoch, attempt from epoch_metrics where run_id = ${id!} order by epoch`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [{ epoch: 1, attempt: 1 }, { epoch: 2, attempt: 2 }]);
  const [r] = await db.sql`select state, last_seq::int, checkpoint_epoch from runs where id = ${id!}`;
  assert.deepEqual({ ...r }, { state: "succeeded", last_seq: seq! + 1, checkpoint_epoch: 1 });
  assert.equal(await completeRun(db.sql, { ...run }).catch((e) => e instanceof LeaseLostError), true, "a finished run cannot be completed again");
  // A claim of a run whose final epoch was recorded without moving the pointer sees that epoch.
  const [other] = await enqueueRuns(db.sql, [{ epochs: 2 }]);
  const a = await claim();
  assert.equal(a.runId, other);
  await recordEpoch(db.sql, a, metrics(1), { path: "/ck/o1", epoch: 1 });
  await recordEpoch(db.sql, a, metrics(2), null);
  await expire(other!);
  await reapExpiredRuns(db.sql);
  await db.sql`update runs set run_after = now() where id = ${other!}`;
  const b = await claim();
  assert.deepEqual([b.checkpointEpoch, b.recordedEpoch], [1, 2]);
});

async function snapshot(runId: string) {
  const [run] = await db.sql`select state, attempt, lease_token, checkpoint_path, last_seq, error from runs where id = ${runId}`;
  const events = await db.sql`select seq, type from run_events where run_id = ${runId} order by seq`;
  const epochs = await db.sql`select epoch from epoch_metrics where run_id = ${runId}`;
  const attempts = await db.sql`select attempt, outcome, ended_at is not null as ended from run_attempts where run_id = ${runId} order by attempt`;
  return JSON.stringify({ run, events, epochs, attempts });
}

test("recordEpoch allocates gap-free seqs, keeps one metrics row per epoch, and the event carries the metrics", async () => {
  await clearQueue();
  await enqueueRuns(db.sql, [{ epochs: 3 }]);
  const run = await claim();
  const seqs = [await recordEpoch(db.sql, run, metrics(1), null), await recordEpoch(db.sql, run, metrics(2), { path: "/ck/2", epoch: 2 })];
  // A resumed attempt that redoes epoch 2 replaces its row rather than adding one.
  seqs.push(await recordEpoch(db.sql, run, { ...metrics(2), loss: 0.4 }, null));
  assert.deepEqual(seqs, [2, 3, 4]);
  const rows = await db.sql`select epoch, loss from epoch_metrics where run_id = ${run.runId} order by epoch`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [{ epoch: 1, loss: 1 }, { epoch: 2, loss: 0.4 }]);
  const [ev] = await db.sql`select payload from run_events where run_id = ${run.runId} and seq = 2`;
  assert.deepEqual(ev!.payload, { ...metrics(1), attempt: 1 });
  const [r] = await db.sql`select checkpoint_path, checkpoint_epoch from runs where id = ${run.runId}`;
  assert.deepEqual({ ...r }, { checkpoint_path: "/ck/2", checkpoint_epoch: 2 });
});

test("concurrent fenced writers of one run never share a seq", async () => {
  await clearQueue();
  await enqueueRuns(db.sql, [{ epochs: 1 }]);
  const run = await claim();
  const clients = Array.from({ length: 4 }, () => postgres(db.url, { max: 1, onnotice: () => {} }));
  try {
    const seqs = (await Promise.all(clients.map(async (c, i) => {
      const out: number[] = [];
      for (let k = 0; k < 25; k++) out.push(await appendEvent(c, run, "log", { i, k }));
      return out;
    }))).flat().sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 2));
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
});

test("failRun: a run failure ends it failed at once; an infrastructure failure retries with backoff until attempts run out", async () => {
  await clearQueue();
  const [diverging, flaky] = await enqueueRuns(db.sql, [{ epochs: 1 }, { epochs: 1, maxAttempts: 2 }]);
  const d = await claim();
  assert.equal(d.runId, diverging);
  assert.equal((await failRun(db.sql, d, { code: "diverged", message: "loss is NaN" }, { retryable: false })).state, "failed");
  const [dr] = await db.sql`select state, error, attempt from runs where id = ${diverging!}`;
  assert.deepEqual({ state: dr!.state, code: dr!.error.code, attempt: dr!.attempt }, { state: "failed", code: "diverged", attempt: 1 });

  const f1 = await claim();
  assert.equal(f1.runId, flaky);
  const t0 = Date.now();
  const r1 = await failRun(db.sql, f1, { code: "crashed", message: "boom 1" }, { retryable: true });
  assert.equal(r1.state, "queued");
  // First retry: RETRY_BASE_S (2 s) jittered to 50–100 %.
  const wait = r1.runAfter.getTime() - t0;
  assert.ok(wait >= 900 && wait <= 2100, `backoff ${wait} ms should be within 1–2 s`);
  await db.sql`update runs set run_after = now() where id = ${flaky!}`;
  const f2 = await claim();
  assert.equal(f2.attempt, 2);
  assert.equal((await failRun(db.sql, f2, { code: "crashed", message: "boom 2" }, { retryable: true })).state, "failed");
  const [fr] = await db.sql`select state, error from runs where id = ${flaky!}`;
  assert.equal(fr!.state, "failed");
  assert.equal(fr!.error.code, "attempts_exhausted");
  assert.match(fr!.error.message, /Gave up after 2 attempts \(max_attempts 2\); the last one failed: boom 2/);
  const attempts = await db.sql`select attempt, outcome, error->>'message' as message from run_attempts where run_id = ${flaky!} order by attempt`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [
    { attempt: 1, outcome: "failed", message: "boom 1" },
    { attempt: 2, outcome: "failed", message: "boom 2" },
  ]);
});

test("releaseRun hands the run back without spending an attempt; a pending cancel turns it into cancelled", async () => {
  await clearQueue();
  const [id] = await enqueueRuns(db.sql, [{ epochs: 2, maxAttempts: 1 }]);
  const a = await claim();
  await setCheckpoint(db.sql, a, { path: "/ck/a1-e0-b3", epoch: 0 }); // the drain's checkpoint, as the worker does
  assert.deepEqual(await releaseRun(db.sql, a), { state: "queued" });
  const b = await claim("w2");
  assert.equal(b.attempt, 2);
  assert.equal(b.checkpointPath, "/ck/a1-e0-b3");
  // max_attempts 1 and two claims: the release did not count, so an infrastructure failure now is the
  // first spent attempt, and with max_attempts 1 it is also the last.
  const [r] = await db.sql`select attempt - releases as spent from runs where id = ${id!}`;
  assert.equal(r!.spent, 1);
  assert.equal(await cancelRun(db.sql, id!), "requested");
  assert.deepEqual(await releaseRun(db.sql, b), { state: "cancelled" });
  const outcomes = await db.sql`select outcome from run_attempts where run_id = ${id!} order by attempt`;
  assert.deepEqual(outcomes.map((o) => o.outcome), ["released", "cancelled"]);
});

test("cancelRun ends a queued run at once and flags a running one, with a NOTIFY and the heartbeat's answer", async () => {
  await clearQueue();
  const [queued, running] = await enqueueRuns(db.sql, [{ epochs: 1, priority: -1 }, { epochs: 1 }]);
  const run = await claim();
  assert.equal(run.runId, running);
  const heard: string[] = [];
  const listener = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await listener.listen("run_cancel", (payload) => heard.push(payload));
    assert.equal(await cancelRun(db.sql, queued!), "cancelled");
    assert.equal(await cancelRun(db.sql, running!), "requested");
    assert.equal(await cancelRun(db.sql, running!), "unchanged");
    assert.equal((await heartbeatRun(db.sql, run, 30)).cancelRequested, true);
    await waitFor(() => heard.length > 0);
    assert.deepEqual(heard, [running]);
  } finally {
    await listener.end();
  }
  const [q] = await db.sql`select state from runs where id = ${queued!}`;
  assert.equal(q!.state, "cancelled");
  await endCancelledRun(db.sql, run);
  const [r] = await db.sql`select state from runs where id = ${running!}`;
  assert.equal(r!.state, "cancelled");
});

test("inserting runs and appending events NOTIFY with ids only", async () => {
  await clearQueue();
  const queued: string[] = [];
  const events: string[] = [];
  const listener = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await listener.listen("runs_queued", (p) => queued.push(p));
    await listener.listen("run_events", (p) => events.push(p));
    await enqueueRuns(db.sql, Array.from({ length: 50 }, () => ({ epochs: 1 })));
    const run = await claim();
    await waitFor(() => queued.length >= 1 && events.length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(queued, [""], "one insert statement of 50 runs wakes listeners once");
    assert.deepEqual(events.map((e) => JSON.parse(e)), [{ runId: run.runId, seq: 1 }]);
  } finally {
    await listener.end();
  }
});

test("five reapers at once: each expired run is taken back exactly once, and its next claim is attempt 2", async () => {
  await clearQueue();
  const n = 200;
  await enqueueRuns(db.sql, Array.from({ length: n }, () => ({ epochs: 1 })));
  const claims = await db.sql`
    update runs set state = 'running', attempt = 1, lease_token = gen_random_uuid(), worker_id = 'w1',
      lease_expires_at = now() - interval '1 second', last_seq = 1
    returning id`;
  await db.sql`insert into run_attempts (run_id, attempt, worker_id, lease_token) select id, 1, 'w1', lease_token from runs`;
  assert.equal(claims.length, n);
  const reapers = Array.from({ length: 5 }, () => postgres(db.url, { max: 1, onnotice: () => {} }));
  try {
    await Promise.all(reapers.map((r) => r`select 1`)); // connect first, so the reapers really overlap
    const results = await Promise.all(reapers.map(async (r) => {
      const got = [];
      for (let batch = await reapExpiredRuns(r, 20); batch.length > 0; batch = await reapExpiredRuns(r, 20)) got.push(...batch);
      return got;
    }));
    const all = results.flat();
    assert.equal(all.length, n);
    assert.equal(new Set(all.map((r) => r.runId)).size, n, "no run reaped twice");
    assert.ok(results.filter((r) => r.length > 0).length > 1, "the reapers should have shared the work");
  } finally {
    await Promise.all(reapers.map((r) => r.end()));
  }
  const [counts] = await db.sql`
    select count(*) filter (where state = 'queued')::int as queued,
           count(*) filter (where attempt = 1)::int as attempt_one,
           count(*) filter (where last_seq = 2)::int as one_event,
           count(*) filter (where error->>'code' = 'lease_expired')::int as reason_kept
    from runs`;
  assert.deepEqual({ ...counts }, { queued: n, attempt_one: n, one_event: n, reason_kept: n });
  const [log] = await db.sql`select count(*)::int as n from run_attempts where outcome = 'lease_expired' and error->>'code' = 'lease_expired'`;
  assert.equal(log!.n, n);
  await db.sql`update runs set run_after = now()`;
  const next = await claim();
  assert.equal(next.attempt, 2);
});

test("reapExpiredRuns fails a run whose attempts are used up and cancels one with a pending cancel", async () => {
  await clearQueue();
  const [last, cancelled] = await enqueueRuns(db.sql, [{ epochs: 1, maxAttempts: 1, priority: 1 }, { epochs: 1 }]);
  const a = await claim();
  const b = await claim();
  assert.deepEqual([a.runId, b.runId], [last, cancelled]);
  await cancelRun(db.sql, cancelled!);
  await expire(a.runId);
  await expire(b.runId);
  const reaped = await reapExpiredRuns(db.sql);
  assert.deepEqual(Object.fromEntries(reaped.map((r) => [r.runId, r.state])), { [last!]: "failed", [cancelled!]: "cancelled" });
  const [row] = await db.sql`select error from runs where id = ${last!}`;
  assert.equal(row!.error.code, "attempts_exhausted");
  assert.equal(row!.error.detail.last.code, "lease_expired");
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("completeRunAndClaim ends the run and claims the worker's next one in one transaction: attempt rows, events, the worker row busy with the next run; none left, the worker idles", async () => {
  await clearQueue();
  const [a, b] = await enqueueRuns(db.sql, [{ name: "a", epochs: 1 }, { name: "b", epochs: 1 }]);
  const first = await claim("w1");
  assert.equal(first.runId, a);
  const xmins = async () => (await db.sql<{ x: string }[]>`
    select xmin::text as x from runs where id = ${a!} union all select xmin::text from runs where id = ${b!}`).map((r) => r.x);
  const { epochSeq, next } = await completeRunAndClaim(db.sql, first, metrics(1), { workerId: "w1", leaseS: 30 });
  assert.ok(next, "the next run was claimed");
  assert.equal(next.runId, b);
  assert.deepEqual([next.attempt, next.workerId, next.lastSeq, next.recordedEpoch, next.epochs], [1, "w1", 1, 0, 1]);
  assert.ok(next.leaseExpiresAt.getTime() > Date.now() + 25_000);
  const [x1, x2] = await xmins();
  assert.equal(x1, x2, "one transaction wrote both runs");
  const rows = await db.sql`select id, state, last_seq::int from runs where id = any(${[a!, b!]}::uuid[]) order by name`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [
    { id: a, state: "succeeded", last_seq: epochSeq! + 1 },
    { id: b, state: "running", last_seq: 1 },
  ]);
  const attempts = await db.sql`select run_id, outcome, lease_token = ${next.leaseToken}::uuid as next_token from run_attempts
    where run_id = any(${[a!, b!]}::uuid[]) order by claimed_at, run_id = ${b!}`;
  assert.deepEqual(attempts.map((r) => ({ ...r })), [
    { run_id: a, outcome: "succeeded", next_token: false },
    { run_id: b, outcome: null, next_token: true },
  ]);
  const events = await db.sql`select run_id, seq::int, type, payload->>'state' as state from run_events
    where run_id = any(${[a!, b!]}::uuid[]) order by run_id = ${b!}, seq`;
  assert.deepEqual(events.map((e) => ({ ...e })), [
    { run_id: a, seq: 1, type: "state", state: "running" },
    { run_id: a, seq: 2, type: "epoch", state: null },
    { run_id: a, seq: 3, type: "state", state: "succeeded" },
    { run_id: b, seq: 1, type: "state", state: "running" },
  ]);
  let [w] = await db.sql`select state, current_run_id from workers where id = 'w1'`;
  assert.deepEqual({ ...w }, { state: "busy", current_run_id: b });
  // The queue is empty: the completion claims nothing and frees the worker.
  const last = await completeRunAndClaim(db.sql, next, null, { workerId: "w1", leaseS: 30 });
  assert.deepEqual(last, { epochSeq: null, next: null });
  [w] = await db.sql`select state, current_run_id from workers where id = 'w1'`;
  assert.deepEqual({ ...w }, { state: "idle", current_run_id: null });
});

test("completeRunAndClaim of a fenced-off claim writes nothing and claims nothing; it claims only for its own worker", async () => {
  await clearQueue();
  await enqueueRuns(db.sql, [{ name: "stale", epochs: 1 }]);
  const stale = await claim("w1");
  await expire(stale.runId);
  await reapExpiredRuns(db.sql);
  await db.sql`update runs set run_after = now() where id = ${stale.runId}`;
  const [waiting] = await enqueueRuns(db.sql, [{ name: "waiting", epochs: 1 }]);
  const [w0] = await db.sql`select state, current_run_id from workers where id = 'w1'`;
  await assert.rejects(completeRunAndClaim(db.sql, stale, metrics(1), { workerId: "w1", leaseS: 30 }), LeaseLostError);
  const rows = await db.sql`select name, state, attempt from runs order by name`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [
    { name: "stale", state: "queued", attempt: 1 },
    { name: "waiting", state: "queued", attempt: 0 },
  ]);
  assert.equal((await db.sql`select count(*)::int as n from run_attempts where run_id = ${waiting!}`)[0]!.n, 0);
  const [w1] = await db.sql`select state, current_run_id from workers where id = 'w1'`;
  assert.deepEqual({ ...w1 }, { ...w0 }, "the worker row is untouched");
  const fresh = await claim("w1");
  await assert.rejects(completeRunAndClaim(db.sql, fresh, null, { workerId: "w2", leaseS: 30 }), /its own worker/);
});

test("findCompletion rebuilds a completion's answer from the database (a worker whose reply was lost), and is null until this attempt completed", async () => {
  await clearQueue();
  const [a, stale, b] = await enqueueRuns(db.sql, [{ name: "a", epochs: 1 }, { name: "stale", epochs: 1 }, { name: "b", epochs: 1 }]);
  const first = await claim("w1");
  assert.equal(first.runId, a);
  // A run this worker abandoned (it could not record its end): still running under w1 until reaped.
  assert.equal((await claim("w1")).runId, stale);
  assert.equal(await findCompletion(db.sql, first, true, true), null, "running: not completed");
  // b is a retry: it keeps its first attempt's started_at, older than the abandoned run's.
  await db.sql`update runs set started_at = now() - interval '1 hour' where id = ${b!}`;
  const answered = await completeRunAndClaim(db.sql, first, metrics(1), { workerId: "w1", leaseS: 30 });
  assert.equal(answered.next?.runId, b);
  assert.deepEqual(await findCompletion(db.sql, first, true, true), answered, "the run that statement claimed, not the abandoned one");
  assert.equal(await findCompletion(db.sql, { ...first, attempt: 2 }, true, true), null, "another attempt's completion is not this one's");
  // A plain completion (no claim asked for, or none made): nothing claimed, no final epoch in it.
  const done = await completeRunAndClaim(db.sql, answered.next!, null, null);
  assert.deepEqual(await findCompletion(db.sql, answered.next!, false, false), done);
  assert.deepEqual(await findCompletion(db.sql, answered.next!, false, true), done, "asked, but the statement claimed nothing");
  assert.deepEqual(done, { epochSeq: null, next: null });
});
