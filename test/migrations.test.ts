import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readFileSync } from "node:fs";
import { migrateDatabase } from "../service/migrate.ts";
import { parseRunSpec, specEpochs } from "../shared/run-spec.ts";
import { SEED_SCHEDULES } from "../shared/schedule/seed-schedules.ts";
import { EPOCH_FIGURE_NAMES, SUMMARY_FIGURE_NAMES, SUMMARY_FIGURES, type SummaryEpoch, summarizeEpochs } from "../shared/run-summary.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

const journal = JSON.parse(readFileSync(new URL("../migrations/meta/_journal.json", import.meta.url), "utf8")) as {
  entries: unknown[];
};
let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => await db.drop());

const spec = (over: Record<string, unknown> = {}) => ({
  schedule: "[1e-3, 0]lin[1e-3, 2]",
  batchSize: 64,
  threshold: 0.92,
  model: { depth: 20 },
  data: { shift: 0.07 },
  optimizer: { alpha: 1e-3, lambda: 0.15, l2: 0 },
  ...over,
});

async function insertRun(name: string): Promise<string> {
  const [row] = await db.sql<{ id: string }[]>`
    insert into runs (name, spec) values (${name}, ${db.sql.json(spec())}) returning id`;
  return row!.id;
}

async function schemaFingerprint(): Promise<string> {
  const rows = await db.sql`
    select table_name, column_name, data_type from information_schema.columns
    where table_schema in ('public', 'drizzle') order by 1, 2`;
  const applied = await db.sql`select hash from drizzle.__drizzle_migrations order by id`;
  return JSON.stringify({ rows, applied });
}

test("migrating an already migrated database again changes nothing", async () => {
  const before = await schemaFingerprint();
  await migrateDatabase(db.url);
  await migrateDatabase(db.url);
  assert.equal(await schemaFingerprint(), before);
});

test("two processes migrating an empty database at once both succeed, once", async () => {
  const fresh = await createTestDatabase();
  try {
    await fresh.sql`drop schema public cascade`;
    await fresh.sql`drop schema drizzle cascade`;
    await fresh.sql`create schema public`;
    await Promise.all([migrateDatabase(fresh.url), migrateDatabase(fresh.url)]);
    const [applied] = await fresh.sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    assert.equal(applied?.n, journal.entries.length);
    const [found] = await fresh.sql<{ views: number }[]>`
      select count(*)::int as views from information_schema.views
      where table_name in ('runs_view', 'epoch_metrics_view', 'run_summary')`;
    assert.equal(found?.views, 3);
  } finally {
    await fresh.drop();
  }
});

test("generated columns expose the spec's hyper-parameters", async () => {
  const id = await insertRun("gen");
  const [row] = await db.sql`select alpha, lambda, l2, shift, batch_size, depth, schedule, threshold from runs where id = ${id}`;
  assert.deepEqual({ ...row }, {
    alpha: 1e-3, lambda: 0.15, l2: 0, shift: 0.07, batch_size: 64, depth: 20,
    schedule: "[1e-3, 0]lin[1e-3, 2]", threshold: 0.92,
  });
});

test("the generated epochs column is the schedule's last epoch, as specEpochs reads it, for every seed schedule and any whitespace", async () => {
  const schedules = [
    ...SEED_SCHEDULES.map((s) => s.schedule),
    "[1e-3, 0] lin [1e-3, 007]",
    "[1e-3,0]cos[0,1000]",
    "\t[1e-3 ,\n0]\r\nlin\t[ 1e-5 , 12 ] \n",
  ];
  for (const schedule of schedules) {
    const parsed = parseRunSpec({ schedule });
    assert.ok(parsed.ok, schedule);
    const [row] = await db.sql<{ epochs: number }[]>`
      insert into runs (spec) values (${db.sql.json(parsed.spec as never)}) returning epochs`;
    assert.equal(row!.epochs, specEpochs(parsed.spec), JSON.stringify(schedule));
  }
});

test("the state rule allows the legal life cycle queued → running → queued → running → succeeded", async () => {
  const id = await insertRun("legal");
  const lease = (s: string) => db.sql`
    update runs set state = ${s}, lease_token = gen_random_uuid(), worker_id = 'w1',
      lease_expires_at = now() + interval '30 s', attempt = attempt + 1 where id = ${id}`;
  await lease("running");
  await db.sql`update runs set state = 'queued' where id = ${id}`;
  await lease("running");
  await db.sql`update runs set state = 'succeeded' where id = ${id}`;
  const [row] = await db.sql`select state from runs where id = ${id}`;
  assert.equal(row!.state, "succeeded");
});

test("the state rule rejects illegal moves: a finished run cannot be resurrected", async () => {
  const id = await insertRun("illegal");
  await db.sql`update runs set state = 'cancelled' where id = ${id}`;
  await assert.rejects(db.sql`update runs set state = 'running' where id = ${id}`, /illegal run state transition from cancelled to running/);
  await assert.rejects(db.sql`update runs set state = 'queued' where id = ${id}`, /illegal run state transition from cancelled to queued/);
  const other = await insertRun("illegal-2");
  await assert.rejects(db.sql`update runs set state = 'succeeded' where id = ${other}`, /from queued to succeeded/);
});

test("the state rule rejects a run inserted in any state but queued", async () => {
  await assert.rejects(
    db.sql`insert into runs (spec, state) values (${db.sql.json(spec())}, 'succeeded')`,
    /a new run must start queued/,
  );
});

test("run_summary gives the seed's columns: first epoch over the threshold, best epoch, final losses", async () => {
  const id = await insertRun("summary");
  const epochs = [
    [1, 1.2, 0.60, 1.1, 0.61],
    [2, 0.8, 0.93, 0.7, 0.921],
    [3, 0.5, 0.95, 0.6, 0.935],
    [4, 0.4, 0.97, 0.65, 0.935],
    [5, 0.3, 0.98, 0.66, 0.93],
  ];
  for (const [epoch, loss, acc, valLoss, valAcc] of epochs) {
    await db.sql`insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
      values (${id}, ${epoch!}, ${loss!}, ${acc!}, ${valLoss!}, ${valAcc!}, 1e-3, 1.5e-4, 10, 100, 1)`;
  }
  const [s] = await db.sql`select threshold_epoch, acc_val, acc, best_epoch, best_val_acc, final_loss,
    final_val_loss, shift, l2, lambda, alpha, schedule from run_summary where run_id = ${id}`;
  assert.deepEqual({ ...s }, {
    threshold_epoch: 2, acc_val: 0.921, acc: 0.93, best_epoch: 3, best_val_acc: 0.935, final_loss: 0.3,
    final_val_loss: 0.66, shift: 0.07, l2: 0, lambda: 0.15, alpha: 1e-3, schedule: "[1e-3, 0]lin[1e-3, 2]",
  });
});

test("run_summary equals shared/run-summary.ts's summarizeEpochs for random runs (ties, misses, gaps, no epochs)", async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // Few distinct values, so ties on val_acc and values exactly at the threshold are common.
  const pick = (xs: number[]) => xs[Math.floor(rand() * xs.length)]!;
  for (let r = 0; r < 25; r++) {
    const threshold = pick([0.5, 0.9, 0.92]);
    const [run] = await db.sql<{ id: string }[]>`
      insert into runs (name, spec) values (${`random ${r}`}, ${db.sql.json(spec({ threshold }))}) returning id`;
    const epochs: SummaryEpoch[] = [];
    for (let epoch = 1; epoch <= 12; epoch++) {
      if (rand() < 0.4) continue; // gaps: a run's rows need not be 1..n
      epochs.push({ epoch, loss: pick([0.1, 0.2, 0.3]), acc: pick([0.8, 0.9]), valLoss: pick([0.25, 0.35]), valAcc: pick([0.4, 0.5, 0.9, 0.92, 0.95]) });
    }
    for (const m of epochs) {
      await db.sql`insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
        values (${run!.id}, ${m.epoch}, ${m.loss}, ${m.acc}, ${m.valLoss}, ${m.valAcc}, 1e-3, 1.5e-4, 10, 100, 1)`;
    }
    // Every figure the module computes from epochs, by its declared column (a new one is checked too).
    const [v] = await db.sql`select * from run_summary where run_id = ${run!.id}`;
    const expected = summarizeEpochs([...epochs].reverse(), threshold);
    const fromView = Object.fromEntries(EPOCH_FIGURE_NAMES.map((k) => [k, v![SUMMARY_FIGURES[k].column]]));
    assert.deepEqual(fromView, expected, `run ${r}: ${JSON.stringify(epochs)}`);
  }
});

test("run_summary has a column of the declared type for every figure shared/run-summary.ts declares", async () => {
  const columns = await db.sql<{ column_name: string; data_type: string }[]>`
    select column_name, data_type from information_schema.columns where table_name = 'run_summary'`;
  const types = new Map(columns.map((c) => [c.column_name, c.data_type]));
  for (const k of SUMMARY_FIGURE_NAMES) {
    const f = SUMMARY_FIGURES[k];
    assert.equal(types.get(f.column), f.int ? "integer" : "double precision", `${k}: column ${f.column}`);
  }
});

test("epoch metrics are unique per run and epoch", async () => {
  const id = await insertRun("unique");
  const row = db.sql`insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
    values (${id}, 1, 1, 0.5, 1, 0.5, 1e-3, 0, 1, 1, 1)`;
  await row;
  await assert.rejects(db.sql`insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
    values (${id}, 1, 1, 0.5, 1, 0.5, 1e-3, 0, 1, 1, 2)`, /duplicate key/);
});
