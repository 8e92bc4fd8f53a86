// A worker's completion that committed but whose answer was lost (the connection reset on the way
// back): the worker looks the completion up before writing again (shared/queue/find-completion.ts).
// Real worker process (TRAINER=fake), real Postgres behind a proxy that drops the answer to the
// completion's statement and resets the connection:
// - the run is reported succeeded, not "abandoned, lease lost";
// - the next run that the lost statement claimed is run at once by the same worker, attempt 1, instead
//   of being held by no one until its lease runs out and then retried as a lease_expired attempt.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import { startStatementReplyProxy, type StatementReplyProxy } from "./helpers/statement-reply-proxy.ts";
import { eventually, startWorker, stopWorkers } from "./helpers/worker-process.ts";

const fx = queueFixture("queue-lost-reply");
let proxy: StatementReplyProxy;
before(async () => {
  await fx.ready;
  proxy = await startStatementReplyProxy(fx.db.url, "update runs set state = 'succeeded'", { action: "drop" });
});
after(async () => await proxy?.close());

test("a completion whose answer was lost: the run is succeeded, not abandoned, and the run it claimed is run at once (attempt 1)", { timeout: 60_000 }, async () => {
  const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]" };
  const [a, b] = await enqueueRuns(fx.db.sql, [{ name: "a", spec, epochs: 1 }, { name: "b", spec, epochs: 1 }]);
  const w = startWorker({ DATABASE_URL: proxy.url, CHECKPOINT_DIR: fx.dir, TRAINER: "fake", FAKE_BATCHES: "1", FAKE_BATCH_MS: "50" }, "lost-reply");
  fx.workers.push(w);
  const t0 = Date.now();
  await eventually("both runs succeeded", async () => {
    const [r] = await fx.db.sql`select count(*)::int as n from runs where state = 'succeeded'`;
    return r!.n === 2;
  }, 30_000).catch((e) => assert.fail(`${(e as Error).message}; worker log:\n${w.output()}`));
  const ms = Date.now() - t0;
  assert.equal(proxy.dropped, 1, "the completion's answer was dropped");
  const attempts = await fx.db.sql`select run_id, attempt, worker_id, outcome from run_attempts order by claimed_at`;
  assert.deepEqual(attempts.map((r) => ({ ...r })), [
    { run_id: a, attempt: 1, worker_id: "lost-reply", outcome: "succeeded" },
    { run_id: b, attempt: 1, worker_id: "lost-reply", outcome: "succeeded" },
  ], w.output());
  assert.match(w.output(), new RegExp(`run ${a} attempt 1: succeeded`));
  assert.doesNotMatch(w.output(), /abandoned/);
  assert.match(w.output(), new RegExp(`run ${a} attempt 1: the database answers again`));
  console.log(`# completion's answer lost: both runs done in ${ms} ms, each in one attempt (LEASE_S 3)`);
  await stopWorkers([w]);
});
