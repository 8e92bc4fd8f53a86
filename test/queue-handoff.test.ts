// A worker working through a backlog completes each run and claims its next one in one statement
// (shared/queue/complete-run.ts completeRunAndClaim, worker/runner/worker-loop.ts). Real worker
// processes (TRAINER=fake), real Postgres:
// - the commits per run halve: what the database counts, not what the code says it sends;
// - SIGTERM in the middle of a backlog (the worker is nearly always inside a completion that claims):
//   it exits 0 and leaves no run running and no attempt open; a run claimed as the drain began goes
//   back to the queue with its attempt not spent (made certain by a proxy that holds the completion's
//   answer while the SIGTERM is sent).
import assert from "node:assert/strict";
import { test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { committedTransactions } from "./helpers/committed-transactions.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import { startStatementReplyProxy } from "./helpers/statement-reply-proxy.ts";
import { eventually, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-handoff");

const SHORT = { TRAINER: "fake", FAKE_BATCH_MS: "0", FAKE_BATCHES: "1", POLL_MS: "5000" };

function worker(id: string): WorkerProcess {
  const w = startWorker({ DATABASE_URL: fx.db.url, CHECKPOINT_DIR: fx.dir, ...SHORT }, id);
  fx.workers.push(w);
  return w;
}

async function enqueue(n: number): Promise<void> {
  await enqueueRuns(fx.db.sql, Array.from({ length: n }, () => ({ spec: { schedule: "[1e-3, 0]lin[1e-3, 1]" }, epochs: 1 })));
}

async function count(where: "queued or running" | "succeeded"): Promise<number> {
  const [r] = where === "succeeded"
    ? await fx.db.sql`select count(*)::int as n from runs where state = 'succeeded'`
    : await fx.db.sql`select count(*)::int as n from runs where state in ('queued', 'running')`;
  return r!.n as number;
}

test("one worker through 300 one-epoch runs: 2 commits per run (completion + next claim, its announcement), not 4", { timeout: 90_000 }, async () => {
  await fx.db.sql`delete from runs`;
  const RUNS = 300;
  const w = worker("handoff-count");
  await w.waitFor(/ready/, 60_000);
  const xacts = () => committedTransactions(fx.db);
  const x0 = await xacts();
  await enqueue(RUNS);
  await eventually("the backlog drained", async () => (await count("queued or running")) === 0, 60_000);
  // A backend reports its counts when idle a while or when it exits: stop the worker, then read.
  await stopWorkers([w]);
  await new Promise((r) => setTimeout(r, 500));
  const perRun = ((await xacts()) - x0) / RUNS;
  assert.equal(await count("succeeded"), RUNS);
  // Claim, its announcement, completion, its announcement: 4 per run when each run is claimed alone.
  // This test's own polling and the worker's start and drain add a few dozen in all.
  assert.ok(perRun < 3, `${perRun.toFixed(2)} transactions per run: completions do not claim the next run`);
  console.log(`# one worker, ${RUNS} one-epoch runs: ${perRun.toFixed(2)} transactions per run`);
});

test("SIGTERM in the middle of a backlog: exit 0, no run left running, no attempt left open, handed-off runs back in the queue unspent", { timeout: 120_000 }, async () => {
  let handedBack = 0;
  for (let round = 1; round <= 3; round++) {
    await fx.db.sql`delete from runs`;
    await enqueue(400);
    const w = worker(`handoff-term-${round}`);
    await eventually("50 runs done", async () => (await count("succeeded")) >= 50, 60_000);
    w.child.kill("SIGTERM");
    assert.deepEqual(await w.exited, { code: 0, signal: null }, w.output());
    const states = await fx.db.sql`select state, count(*)::int as n from runs group by state order by state`;
    assert.deepEqual(states.map((r) => r.state).filter((s) => s !== "succeeded" && s !== "queued"), [], JSON.stringify(states));
    const [open] = await fx.db.sql`select count(*)::int as n from run_attempts where ended_at is null`;
    assert.equal(open!.n, 0, "every attempt ended");
    // A queued run that was claimed has had its attempt handed back: released, not spent.
    const queuedClaimed = await fx.db.sql`
      select r.attempt, r.releases, a.outcome from runs r join run_attempts a on a.run_id = r.id
      where r.state = 'queued'`;
    for (const r of queuedClaimed) assert.deepEqual({ ...r }, { attempt: 1, releases: 1, outcome: "released" });
    const [row] = await fx.db.sql`select state, current_run_id from workers where id = ${`handoff-term-${round}`}`;
    assert.deepEqual({ ...row }, { state: "gone", current_run_id: null });
    if (/claimed as the worker began draining/.test(w.output())) handedBack++;
  }
  console.log(`# SIGTERM mid-backlog: ${handedBack} of 3 drains began while a completion was claiming the next run`);
});

test("SIGTERM while a completion is claiming the next run: the run it claimed goes back to the queue unspent, the worker exits 0", { timeout: 60_000 }, async () => {
  await fx.db.sql`delete from runs`;
  // The completion's answer is held for 2 s: the drain begins while the worker waits for it.
  const proxy = await startStatementReplyProxy(fx.db.url, "update runs set state = 'succeeded'", { action: "hold", ms: 2000 });
  try {
    const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]" };
    const [a, b] = await enqueueRuns(fx.db.sql, [{ name: "a", spec, epochs: 1 }, { name: "b", spec, epochs: 1 }]);
    const w = startWorker({ DATABASE_URL: proxy.url, CHECKPOINT_DIR: fx.dir, ...SHORT }, "handoff-held");
    fx.workers.push(w);
    await proxy.holding;
    w.child.kill("SIGTERM");
    assert.deepEqual(await w.exited, { code: 0, signal: null }, w.output());
    assert.match(w.output(), new RegExp(`run ${b} attempt 1: claimed as the worker began draining; released to the queue \\(attempt not spent\\)`));
    const rows = await fx.db.sql`select id, state, attempt, releases from runs order by name`;
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: a, state: "succeeded", attempt: 1, releases: 0 },
      { id: b, state: "queued", attempt: 1, releases: 1 },
    ]);
    const attempts = await fx.db.sql`select run_id, outcome from run_attempts order by claimed_at, run_id = ${b!}`;
    assert.deepEqual(attempts.map((r) => ({ ...r })), [
      { run_id: a, outcome: "succeeded" },
      { run_id: b, outcome: "released" },
    ]);
  } finally {
    await proxy.close();
  }
});
