// Issue 17 part 3: 100 worker processes (TRAINER=fake) against one Postgres whose max_connections is
// 100, through PgBouncer in transaction mode. Directly they would need 200-300 connections (main +
// heartbeat thread + LISTEN each); through the pooler the server sees at most the pool's 20, and every
// run still executes exactly once. Needs Debian's pgbouncer (.ci/run installs it); skipped without it.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import type { RunningPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { transactionPoolerOptions } from "../shared/db/transaction-pooler.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { freePort } from "./helpers/free-port.ts";
import { startSizedPostgres } from "./helpers/start-sized-postgres.ts";
import { eventually, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const WORKERS = 100;
const RUNS = 400;
const POOL_SIZE = 20;
const PGBOUNCER = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((p) => existsSync(p));
const skip = PGBOUNCER === undefined
  ? "pgbouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)"
  : false;

let dir: string;
let pg: RunningPostgres | null = null;
let bouncer: ChildProcess | null = null;
let admin: postgres.Sql | null = null;
let directUrl: string;
const workers: WorkerProcess[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(tmpdir(), "queue-pgbouncer-"));
  // As root, pgbouncer (and Postgres) run as the `postgres` user, which must read its config here.
  await chmod(dir, 0o755);
  pg = await startSizedPostgres(dir, await freePort(), 100);
  directUrl = await ensureDatabase(pg.url, "jobs");
  await migrateDatabase(directUrl);
  admin = postgres(pg.url, { max: 2, onnotice: () => {} });
});

after(async () => {
  await stopWorkers(workers);
  if (bouncer && bouncer.exitCode === null) {
    const exited = new Promise((r) => bouncer!.once("exit", r));
    bouncer.kill("SIGINT");
    await exited;
  }
  await admin?.end();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let bouncerUrl: Promise<string> | null = null;
/** PgBouncer in transaction mode in front of the test cluster (one for the file); its client URL. */
function pgBouncerUrl(): Promise<string> {
  return (bouncerUrl ??= startPgBouncer());
}

/** Starts PgBouncer; resolves its client URL once it accepts. */
async function startPgBouncer(): Promise<string> {
  const port = await freePort();
  const server = new URL(pg!.url);
  const password = decodeURIComponent(server.password);
  const ini = path.join(dir, "pgbouncer.ini");
  await writeFile(ini, [
    "[databases]",
    `jobs = host=127.0.0.1 port=${server.port} dbname=jobs user=${server.username} password=${password}`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    // No passwords between the test's own processes on loopback; the server login is in [databases].
    "auth_type = any",
    "pool_mode = transaction",
    `default_pool_size = ${POOL_SIZE}`,
    "max_client_conn = 1000",
    // The worker sets this per connection at startup (an abandoned transaction ends with its lease); a
    // pooled server connection is shared, so PgBouncer must drop it (set it on the role instead).
    "ignore_startup_parameters = idle_in_transaction_session_timeout",
    "",
  ].join("\n"), { mode: 0o644 });
  const args = userInfo().uid === 0 ? ["-u", "postgres", ini] : [ini];
  bouncer = spawn(PGBOUNCER!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  bouncer.stdout!.on("data", (d: Buffer) => (log += d));
  bouncer.stderr!.on("data", (d: Buffer) => (log += d));
  await eventually(`pgbouncer accepting on ${port}`, async () => {
    if (bouncer!.exitCode !== null) throw new Error(`pgbouncer exited ${bouncer!.exitCode}:\n${log}`);
    return await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => (s.end(), resolve(true)));
      s.on("error", () => resolve(false));
    });
  }, 10_000);
  // Transaction mode hands each transaction any server connection: no named prepared statements
  // (postgres.js reads `prepare=false` from the URL) and no LISTEN (the workers run with LISTEN=off).
  return `postgres://postgres:postgres@127.0.0.1:${port}/jobs?prepare=false`;
}

test(`${WORKERS} worker processes through PgBouncer (transaction mode) on a Postgres with max_connections 100: every run exactly once`, {
  skip,
  timeout: 280_000,
}, async () => {
  const [mc] = await admin!<{ max_connections: string }[]>`show max_connections`;
  assert.equal(mc!.max_connections, "100");
  const url = await pgBouncerUrl();
  const t0 = Date.now();
  const ck = path.join(dir, "ck");
  const env = {
    DATABASE_URL: url, LISTEN: "off", POLL_MS: "1000", TRAINER: "fake", FAKE_BATCH_MS: "2", FAKE_BATCHES: "2",
    CHECKPOINT_DIR: ck, LOG_LEVEL: "info",
    // A hundred processes on a few cores can each be starved for seconds: leases of the usual length,
    // not the 3 s of the other queue tests, or runs expire while their workers wait for a core.
    LEASE_S: "60", HEARTBEAT_S: "10",
  };

  // The server's side, sampled throughout: backends on the jobs database (PgBouncer's) and in all.
  let peakJobs = 0, peakAll = 0, sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [r] = await admin!<{ jobs: number; all: number }[]>`
        select count(*) filter (where datname = 'jobs' and application_name <> 'pooler test direct')::int as jobs,
          count(*)::int as all
        from pg_stat_activity where backend_type = 'client backend'`;
      peakJobs = Math.max(peakJobs, r!.jobs);
      peakAll = Math.max(peakAll, r!.all);
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  const progress = setInterval(() => {
    const ready = workers.filter((w) => / ready /.test(w.output())).length;
    console.log(`# ${ready}/${WORKERS} workers ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }, 15_000);
  try {
    // In waves: a worker's start costs ~0.65 s of CPU (Node, tsx, its heartbeat thread); 100 at once on
    // two cores only thrash. The runs are queued once all are in.
    for (let wave = 0; wave < WORKERS; wave += 20) {
      const started = Array.from({ length: Math.min(20, WORKERS - wave) }, (_, i) =>
        startWorker(env, `pooled-${String(wave + i).padStart(3, "0")}`));
      workers.push(...started);
      await Promise.all(started.map((w) => w.waitFor(/ready/, 120_000)));
    }
  } finally {
    clearInterval(progress);
  }
  const readyS = (Date.now() - t0) / 1000;
  // The test's own connection to the jobs database, beside the pool (not counted as the pool's).
  const direct = postgres(directUrl, { max: 1, onnotice: () => {}, connection: { application_name: "pooler test direct" } });
  try {
    const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]", optimizer: { alpha: 1e-3 } };
    const t1 = Date.now();
    await enqueueRuns(direct, Array.from({ length: RUNS }, (_, i) => ({ name: `pooled ${i}`, spec, epochs: 1 })));
    await eventually(`${RUNS} succeeded runs`, async () => {
      const [r] = await direct<{ n: number }[]>`select count(*)::int as n from runs where state = 'succeeded'`;
      return r!.n === RUNS;
    }, 180_000);
    const drainS = (Date.now() - t1) / 1000;
    sampling = false;
    await sampler;

    const [runs] = await direct`
      select count(*)::int as runs, count(*) filter (where attempt = 1)::int as first_attempt,
        count(*) filter (where last_seq = 3)::int as three_events from runs`;
    assert.deepEqual({ ...runs }, { runs: RUNS, first_attempt: RUNS, three_events: RUNS });
    const [log] = await direct`
      select count(*)::int as claims, count(distinct run_id)::int as runs,
        count(*) filter (where outcome = 'succeeded')::int as succeeded, count(distinct worker_id)::int as workers
      from run_attempts`;
    assert.equal(log!.claims, RUNS, "one claim per run");
    assert.equal(log!.runs, RUNS);
    assert.equal(log!.succeeded, RUNS);
    assert.ok(log!.workers >= WORKERS / 2, `work should spread over the ${WORKERS} workers, went to ${log!.workers}`);
    const [m] = await direct`select count(*)::int as n from epoch_metrics`;
    assert.equal(m!.n, RUNS);
    const [bad] = await direct`
      select count(*)::int as n from runs r
      where (select array_agg(type order by seq) from run_events e where e.run_id = r.id) <> array['state','epoch','state']`;
    assert.equal(bad!.n, 0);
    const [registered] = await direct`select count(*)::int as n from workers where state <> 'gone'`;
    assert.equal(registered!.n, WORKERS);
    assert.ok(peakJobs <= POOL_SIZE, `the server saw ${peakJobs} connections from the pool (pool size ${POOL_SIZE})`);
    assert.ok(peakAll < 100, `the server saw ${peakAll} client connections in all`);
    console.log(
      `# ${WORKERS} workers ready through PgBouncer in ${readyS.toFixed(1)} s; ${RUNS} runs in ${drainS.toFixed(1)} s; ` +
        `server connections: at most ${peakJobs} from the pool, ${peakAll} in all (max_connections 100)`,
    );
  } finally {
    sampling = false;
    await sampler;
    await direct.end();
  }
  await stopWorkers(workers);
  for (const w of workers) assert.equal((await w.exited).code, 0, `worker ${w.id} should drain and exit 0:\n${w.output().slice(-2000)}`);
});

// PgBouncer 1.18 in transaction mode loses the answers to statements a client pipelined behind another
// one (shared/db/transaction-pooler.ts): with postgres.js's default pipelining every client below hangs.
// The options the worker uses for a prepare=false URL must get every answer.
test("through PgBouncer, connections made with transactionPoolerOptions get every answer to statements sent back to back", {
  skip,
  timeout: 120_000,
}, async () => {
  const url = await pgBouncerUrl();
  const clients = Array.from({ length: 100 }, () => postgres(url, { max: 1, onnotice: () => {}, ...transactionPoolerOptions(url) }));
  try {
    const answered = await Promise.all(clients.map(async (sql, c) => {
      let n = 0;
      for (let i = 0; i < 40; i++) {
        // What a worker does: fire-and-forget statements (announceRunEvents' NOTIFY; a timer's reap), then
        // its next statement at once.
        sql`select set_config('synchronous_commit', 'off', true), pg_notify('pooler_test', ${String(i)})`.catch(() => {});
        if (i % 3 === 0) sql`select pg_sleep(0.002)`.catch(() => {});
        const q = sql<{ v: number }[]>`select ${c * 1000 + i}::int as v, pg_sleep(0.001)`.then((rows) => rows[0]!.v);
        const v = await Promise.race([q, new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000))]);
        if (v === "hung") return `client ${c}: statement ${i} not answered within 10 s`;
        assert.equal(v, c * 1000 + i);
        n++;
      }
      return n;
    }));
    assert.deepEqual(answered.filter((a) => a !== 40), [], "every client got all 40 answers");
  } finally {
    await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
  }
});
