// `node --import tsx bench/queue-side-by-side.ts [--anchors DIR] [--rounds N] [--jobs N] [--samples N] [--warmup N] [--no-drain] [--procs-only]
//   [--variant LABEL=DIR ...]`
//
// This project's queue against graphile-worker and pg-boss, on one fresh embedded Postgres (fsync on),
// in alternating rounds so that the machine's load hits all of them alike (issue 19). The anchors are
// not dependencies of the project; install them beside it, once, without touching package.json:
//
//   mkdir -p /tmp/queue-anchors && cd /tmp/queue-anchors && echo '{"private":true}' > package.json \
//     && npm install --no-audit --no-fund graphile-worker@0.16.6 pg-boss@10.4.2
//
// and pass `--anchors /tmp/queue-anchors` (the default). A missing anchor is skipped with a note.
// What it measures, each at 4 and 20 workers:
//   - jobs/s draining a backlog of `--jobs` one-step jobs:
//       ours, SQL: N connections looping claimRun → recordEpoch → completeRun (every fenced write of a
//         one-epoch run whose trainer works after its last epoch, no process around them), with
//         Lock:object waits (pg_stat_activity sampled every 5 ms) and WAL bytes per run
//         (pg_current_wal_lsn before/after); claimRun → completeRun with the final epoch (a fake run's);
//         and completeRunAndClaim with the final epoch, each completion claiming the next run (a worker's
//         statements through a backlog);
//       ours, processes: N worker processes (TRAINER=fake, one 0 ms batch; the final epoch writes no
//         checkpoint, so a one-epoch run writes none; through the backlog each completion claims the next);
//       graphile-worker: one process, concurrency N, a no-op task; pg-boss: N work() loops, batch 1,
//         polling 0.5 s (its floor), a no-op handler (fewer jobs: it drains at its polling rate);
//   - pickup: one job at a time into 4 idle workers, from the client's clock before the insert to the
//     start of the claim (ours: run_attempts.claimed_at, same machine clock) or of the handler;
//   - drain rate with 2,000 vs 20,000 queued runs, two fake-trainer worker processes on each database,
//     both at once (the same machine load for both): runs/s over the first 1,000 completions, from the
//     database's claim/end times. `--drain-only` measures just this.
// `--warmup N` (default 1000): before each throughput measurement of worker processes or of
// graphile-worker, N jobs per worker are drained unmeasured: the steady state of long-lived workers.
// A fresh process runs its first hundreds of runs in V8's unoptimized tiers while it compiles (at 20
// workers on 2 cores: 0.4 ms of V8 background CPU per run after 50 runs each, 0.08 ms after 3,000), and
// graphile-worker's process, this one, is warm after its first measurement anyway. `--warmup 0`
// measures fresh processes.
// `--variant LABEL=DIR` (with --procs-only, repeatable) also runs the worker processes of another
// checkout DIR (e.g. `git worktree add /tmp/before main`, with node_modules linked) in every round,
// interleaved with this one and the anchor: what a change buys, under the same load.
// Prints a Markdown section for bench/results-queue.md.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { freePort } from "../test/helpers/free-port.ts";
import { startSizedPostgres } from "../test/helpers/start-sized-postgres.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "../test/helpers/worker-process.ts";
import { claimRun } from "../shared/queue/claim-run.ts";
import { completeRun, completeRunAndClaim } from "../shared/queue/complete-run.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { recordEpoch } from "../shared/queue/record-epoch.ts";
import { registerWorker } from "../shared/queue/register-worker.ts";

const { values: args } = parseArgs({
  options: {
    anchors: { type: "string", default: process.env.QUEUE_ANCHORS ?? "/tmp/queue-anchors" },
    rounds: { type: "string", default: "2" },
    jobs: { type: "string", default: "2000" },
    samples: { type: "string", default: "100" },
    "no-drain": { type: "boolean", default: false },
    "drain-only": { type: "boolean", default: false },
    "procs-only": { type: "boolean", default: false },
    variant: { type: "string", multiple: true, default: [] },
    warmup: { type: "string", default: "1000" },
  },
});
const VARIANTS = args.variant.map((v) => {
  const eq = v.indexOf("=");
  if (eq < 1) throw new Error(`--variant must be LABEL=DIR, got ${JSON.stringify(v)}`);
  return { label: v.slice(0, eq), root: path.resolve(v.slice(eq + 1)) };
});
/** Jobs per worker drained before each throughput measurement (ours and graphile-worker's). */
const WARMUP = Number(args.warmup);
const ROUNDS = Number(args.rounds);
const JOBS = Number(args.jobs);
const SAMPLES = Number(args.samples);
const WORKER_COUNTS = [4, 20];
const spec = { schedule: "[1e-3, 0]lin[1e-3, 1]", optimizer: { alpha: 1e-3 } };
const metrics = { epoch: 1, loss: 1, acc: 0.5, valLoss: 1, valAcc: 0.5, lr: 1e-3, wd: 1e-4, seconds: 0, imagesPerSec: 0 };

/**
 * The per-row NOTIFY trigger that every event insert fired before issue 19 (migrations/0003), put back
 * on one database: what moving NOTIFY off the commit path buys, measured in the same run.
 */
const OLD_EVENT_TRIGGER = `
  create function run_events_notify() returns trigger language plpgsql as $$
  begin
    perform pg_notify('run_events', json_build_object('runId', new.run_id, 'seq', new.seq)::text);
    return null;
  end $$;
  create trigger run_events_notify after insert on run_events for each row execute function run_events_notify();`;

// deno-lint-ignore no-explicit-any
type Any = any;
async function loadAnchor(name: string): Promise<Any | null> {
  try {
    const req = createRequire(path.join(path.resolve(args.anchors), "package.json"));
    return await import(pathToFileURL(req.resolve(name)).href);
  } catch {
    return null;
  }
}
const graphile = await loadAnchor("graphile-worker");
const pgBossModule = await loadAnchor("pg-boss");
/** graphile-worker's pg pool, ours so that its idle connections' errors (the database dropped after a phase) are handled. */
function graphilePool(url: string, max: number): Any {
  const pg = createRequire(path.join(path.resolve(args.anchors), "package.json"))("pg");
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => {});
  return pool;
}
const anchorVersion = (name: string) => {
  try {
    return createRequire(path.join(path.resolve(args.anchors), "package.json"))(`${name}/package.json`).version as string;
  } catch {
    return "absent";
  }
};

const dir = await mkdtemp(path.join(tmpdir(), "bench-side-"));
const port = await freePort();
const pg = await startSizedPostgres(dir, port, 200);
const admin = postgres(pg.url, { max: 2, onnotice: () => {} });
/** The embedded server's postmaster: its processes' CPU is Postgres's (Linux /proc). */
const postmasterPid = Number((await readFile(path.join(dir, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
const say = (l: string) => console.error(l);
const TEMPLATE = "bench_ours_template";
await migrateDatabase(await ensureDatabase(pg.url, TEMPLATE));
let dbCounter = 0;

interface Throughput {
  jobs: number;
  seconds: number;
  lockObjectShare?: number;
  walPerJob?: number;
  /** Committed transactions in the database per job: every autocommit statement is one. */
  xactsPerJob?: number;
  /** CPU milliseconds per job of the worker processes (all their threads) and of Postgres (all its processes). */
  workerCpuMs?: number;
  postgresCpuMs?: number;
}
const results = new Map<string, Throughput[]>();
const latencies = new Map<string, number[]>();
const record = (key: string, t: Throughput) => {
  results.set(key, [...(results.get(key) ?? []), t]);
  say(`${key}: ${t.jobs} in ${t.seconds.toFixed(2)} s = ${(t.jobs / t.seconds).toFixed(0)}/s` +
    (t.lockObjectShare !== undefined ? `, Lock:object ${(t.lockObjectShare * 100).toFixed(0)} %` : "") +
    (t.walPerJob !== undefined ? `, WAL ${t.walPerJob.toFixed(0)} B/job` : "") +
    (t.xactsPerJob !== undefined ? `, ${t.xactsPerJob.toFixed(1)} transactions/job` : "") +
    (t.workerCpuMs !== undefined ? `, CPU ${t.workerCpuMs.toFixed(2)} ms workers + ${t.postgresCpuMs!.toFixed(2)} ms Postgres per job` : ""));
};

try {
  const load0 = loadavg()[0]!.toFixed(1);
  for (let round = 1; round <= (args["drain-only"] ? 0 : ROUNDS); round++) {
    say(`--- round ${round}`);
    for (const n of WORKER_COUNTS) {
      if (args["procs-only"]) {
        record(`ours-proc-${n}`, await oursProcesses(n));
        // What the LISTEN connections cost: Postgres (18) wakes every listening backend of the database
        // for every NOTIFY, whatever its channel, so each run's three announcements cost N wakeups.
        // Without LISTEN an idle worker polls (every 100 ms here: the backlog is found that late).
        record(`ours-proc-nolisten-${n}`, await oursProcesses(n, { LISTEN: "off", POLL_MS: "100" }));
        for (const v of VARIANTS) record(`variant-${v.label}-${n}`, await oursProcesses(n, {}, v.root));
        if (graphile) record(`graphile-${n}`, await graphileThroughput(n));
        continue;
      }
      record(`ours-sql-${n}`, await oursSql(n));
      record(`ours-sql-merged-${n}`, await oursSql(n, { merged: true }));
      record(`ours-sql-handoff-${n}`, await oursSql(n, { handoff: true }));
      record(`ours-sql-trigger-${n}`, await oursSql(n, { oldTrigger: true }));
      record(`ours-proc-${n}`, await oursProcesses(n));
      if (graphile) record(`graphile-${n}`, await graphileThroughput(n));
      if (pgBossModule) record(`pgboss-${n}`, await pgBossThroughput(n));
    }
    if (args["procs-only"]) continue;
    latencies.set("ours", [...(latencies.get("ours") ?? []), ...await oursPickup()]);
    if (graphile) latencies.set("graphile", [...(latencies.get("graphile") ?? []), ...await graphilePickup()]);
    if (pgBossModule) latencies.set("pgboss", [...(latencies.get("pgboss") ?? []), ...await pgBossPickup()]);
  }
  const drain = args["no-drain"] || args["procs-only"] ? null : await drainRates();
  const load1 = loadavg()[0]!.toFixed(1);
  const pgVersion = (await admin<{ v: string }[]>`select version() as v`)[0]!.v.split(" ").slice(0, 2).join(" ");
  print(load0, load1, pgVersion, drain);
} finally {
  await admin.end();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}

function rate(key: string): number {
  const ts = results.get(key) ?? [];
  if (ts.length === 0) return NaN;
  // The median round (the machine is shared: one round may be hit by another session's burst); with an
  // even count, the mean of the middle two.
  const rates = ts.map((t) => t.jobs / t.seconds).sort((a, b) => a - b);
  const mid = rates.length / 2;
  return Number.isInteger(mid) ? (rates[mid - 1]! + rates[mid]!) / 2 : rates[Math.floor(mid)]!;
}
function avg(key: string, field: "lockObjectShare" | "walPerJob" | "xactsPerJob" | "workerCpuMs" | "postgresCpuMs"): number {
  const xs = (results.get(key) ?? []).map((t) => t[field]).filter((x): x is number => x !== undefined);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function pct(ms: number[], p: number): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function print(load0: string, load1: string, pgVersion: string, drain: { small: number; large: number } | null): void {
  const f0 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(0));
  const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? "–" : `${(a / b).toFixed(2)}×`);
  const lat = (k: string) => {
    const ms = latencies.get(k);
    return ms && ms.length > 0 ? `${pct(ms, 0.5).toFixed(2)} / ${pct(ms, 0.99).toFixed(2)} ms (${ms.length})` : "–";
  };
  if (results.size === 0 && drain) {
    console.log(`Drain (--drain-only), load average ${load0} → ${load1}: ${drain.small.toFixed(0)} runs/s with 2,000 queued, ` +
      `${drain.large.toFixed(0)} runs/s with 20,000 queued (${(drain.large / drain.small).toFixed(2)}×), two fake workers on each, both at once.`);
    return;
  }
  const procRow = (label: string, key: string) => {
    const cpu = (n: number) => `${avg(`${key}-${n}`, "workerCpuMs").toFixed(2)} + ${avg(`${key}-${n}`, "postgresCpuMs").toFixed(2)}`;
    return `| ${label} | ${f0(rate(`${key}-4`))} (${ratio(rate(`${key}-4`), rate("graphile-4"))}) | ` +
      `${f0(rate(`${key}-20`))} (${ratio(rate(`${key}-20`), rate("graphile-20"))}) | ` +
      `${avg(`${key}-4`, "xactsPerJob").toFixed(1)} / ${f0(avg(`${key}-4`, "walPerJob"))} B | ${cpu(4)} / ${cpu(20)} |`;
  };
  if (args["procs-only"]) {
    console.log([
      `## ${new Date().toISOString().slice(0, 16)}Z — worker processes (--procs-only), ${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${load0} → ${load1}`,
      "",
      `Command: \`node --import tsx bench/queue-side-by-side.ts --procs-only --rounds ${ROUNDS} --jobs ${JOBS} --warmup ${WARMUP}` +
      `${VARIANTS.map((v) => ` --variant ${v.label}=${v.root}`).join("")}\` (median of ${ROUNDS} alternating rounds)`,
      "",
      "| | jobs/s, 4 workers | jobs/s, 20 workers | transactions / WAL per run (4 workers) | CPU ms per run, workers + Postgres, 4 / 20 workers |",
      "| --- | --- | --- | --- | --- |",
      procRow("this project, worker processes (TRAINER=fake)", "ours-proc"),
      procRow("the same, LISTEN=off (POLL_MS 100)", "ours-proc-nolisten"),
      ...VARIANTS.map((v) => procRow(`${v.label} (${v.root}), worker processes`, `variant-${v.label}`)),
      `| graphile-worker (1 process × N) | ${f0(rate("graphile-4"))} | ${f0(rate("graphile-20"))} | – / ${f0(avg("graphile-4", "walPerJob"))} B | ` +
      `${avg("graphile-4", "workerCpuMs").toFixed(2)} + ${avg("graphile-4", "postgresCpuMs").toFixed(2)} / ` +
      `${avg("graphile-20", "workerCpuMs").toFixed(2)} + ${avg("graphile-20", "postgresCpuMs").toFixed(2)} |`,
      "",
      `Transactions per run at 20 workers: ${avg("ours-proc-20", "xactsPerJob").toFixed(1)} with LISTEN, ` +
      `${avg("ours-proc-nolisten-20", "xactsPerJob").toFixed(1)} without (each woken listener reads the notification queue in a transaction)` +
      VARIANTS.map((v) => `, ${avg(`variant-${v.label}-20`, "xactsPerJob").toFixed(1)} for ${v.label}`).join("") + ".",
      `Rounds (jobs/s): ${[...results.entries()].map(([k, ts]) => `${k} ${ts.map((t) => (t.jobs / t.seconds).toFixed(0)).join("/")}`).join("; ")}.`,
    ].join("\n"));
    return;
  }
  const lines = [
    `## ${new Date().toISOString().slice(0, 16)}Z — side by side, ${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${load0} → ${load1}`,
    "",
    `Command: \`node --import tsx bench/queue-side-by-side.ts --rounds ${ROUNDS} --jobs ${JOBS} --samples ${SAMPLES} --warmup ${WARMUP}\``,
    `(Node ${process.version}, ${pgVersion}, embedded, fsync on; graphile-worker ${anchorVersion("graphile-worker")}, ` +
    `pg-boss ${anchorVersion("pg-boss")}; median of ${ROUNDS} alternating rounds.)`,
    "",
    "| | pickup p50 / p99 (samples) | jobs/s, 4 workers | jobs/s, 20 workers |",
    "| --- | --- | --- | --- |",
    `| this project, worker processes (TRAINER=fake) | ${lat("ours")} | ${f0(rate("ours-proc-4"))} (${ratio(rate("ours-proc-4"), rate("graphile-4"))}) | ` +
    `${f0(rate("ours-proc-20"))} (${ratio(rate("ours-proc-20"), rate("graphile-20"))}) |`,
    `| this project, claimRun + recordEpoch + completeRun only | – | ${f0(rate("ours-sql-4"))} | ${f0(rate("ours-sql-20"))} |`,
    `| this project, claimRun + completeRun with the final epoch (a one-epoch fake run's statements) | – | ` +
    `${f0(rate("ours-sql-merged-4"))} (${ratio(rate("ours-sql-merged-4"), rate("graphile-4"))}) | ` +
    `${f0(rate("ours-sql-merged-20"))} (${ratio(rate("ours-sql-merged-20"), rate("graphile-20"))}) |`,
    `| this project, completeRunAndClaim with the final epoch (a worker's statements through a backlog) | – | ` +
    `${f0(rate("ours-sql-handoff-4"))} (${ratio(rate("ours-sql-handoff-4"), rate("graphile-4"))}) | ` +
    `${f0(rate("ours-sql-handoff-20"))} (${ratio(rate("ours-sql-handoff-20"), rate("graphile-20"))}) |`,
    `| graphile-worker (1 process × N) | ${lat("graphile")} | ${f0(rate("graphile-4"))} | ${f0(rate("graphile-20"))} |`,
    `| pg-boss (polling 0.5 s, batch 1) | ${lat("pgboss")} | ${f0(rate("pgboss-4"))} | ${f0(rate("pgboss-20"))} |`,
    "",
    `Ratios to graphile-worker: worker processes ${ratio(rate("ours-proc-4"), rate("graphile-4"))} at 4, ` +
    `${ratio(rate("ours-proc-20"), rate("graphile-20"))} at 20; SQL only ${ratio(rate("ours-sql-4"), rate("graphile-4"))} at 4, ` +
    `${ratio(rate("ours-sql-20"), rate("graphile-20"))} at 20.`,
    "",
    `The same SQL with the pre-issue-19 per-row NOTIFY trigger put back: ${f0(rate("ours-sql-trigger-4"))} jobs/s at 4, ` +
    `${f0(rate("ours-sql-trigger-20"))} at 20, Lock:object ${(avg("ours-sql-trigger-4", "lockObjectShare") * 100).toFixed(0)} % / ` +
    `${(avg("ours-sql-trigger-20", "lockObjectShare") * 100).toFixed(0)} %.`,
    "",
    `Ours, SQL only: connections waiting on Lock:object ${(avg("ours-sql-4", "lockObjectShare") * 100).toFixed(0)} % of the time at 4, ` +
    `${(avg("ours-sql-20", "lockObjectShare") * 100).toFixed(0)} % at 20; WAL ${f0(avg("ours-sql-4", "walPerJob"))} B per run ` +
    `(graphile-worker: ${f0(avg("graphile-4", "walPerJob"))} B per job).`,
  ];
  if (drain) {
    lines.push(
      "",
      `Drain rate, two fake-trainer worker processes per database, both databases at once, first 1,000 completions: ` +
        `${drain.small.toFixed(0)} runs/s with 2,000 queued, ` +
        `${drain.large.toFixed(0)} runs/s with 20,000 queued (${(drain.large / drain.small).toFixed(2)}×).`,
    );
  }
  console.log(lines.join("\n"));
}

// --- helpers ---------------------------------------------------------------------------------------

async function freshDb(prefix: string, template: string | null): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${++dbCounter}`;
  await admin.unsafe(`create database "${name}"${template ? ` template "${template}"` : ""}`);
  const url = new URL(pg.url);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

async function dropDb(name: string): Promise<void> {
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
}

/** Samples pg_stat_activity of `db` every 5 ms: the share of its client connections waiting on Lock:object. */
function lockSampler(db: string): { stop(): Promise<number> } {
  let waiting = 0, seen = 0, running = true;
  const sampler = postgres(pg.url, { max: 1, onnotice: () => {} });
  const loop = (async () => {
    while (running) {
      const [r] = await sampler<{ w: number; n: number }[]>`
        select count(*) filter (where wait_event_type = 'Lock' and wait_event = 'object')::int as w,
          count(*) filter (where state = 'active' or state like 'idle in%')::int as n
        from pg_stat_activity where datname = ${db} and backend_type = 'client backend'`;
      waiting += r!.w;
      seen += r!.n;
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await sampler.end();
      return seen === 0 ? 0 : waiting / seen;
    },
  };
}

/** CPU seconds (user + system, all threads) of the processes `pids` and of all their descendants. */
async function cpuSeconds(pids: number[]): Promise<number> {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of await readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => null);
    if (stat === null) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after "pid (comm) ": state ppid ... utime stime
    stats.set(Number(entry), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100 });
  }
  const tree = new Set(pids);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, s] of stats) if (!tree.has(pid) && tree.has(s.ppid)) (tree.add(pid), grew = true);
  }
  return [...tree].reduce((sum, pid) => sum + (stats.get(pid)?.cpu ?? 0), 0);
}

async function walLsn(): Promise<bigint> {
  const [r] = await admin<{ b: string }[]>`select (pg_current_wal_lsn() - '0/0'::pg_lsn)::text as b`;
  return BigInt(r!.b);
}

/**
 * `merged`: the final epoch recorded by the completion's statement, as a worker does when its trainer
 * returns right after the last epoch (execute-run.ts); else a separate recordEpoch, as after the real
 * trainer's test evaluation. `handoff`: merged, and each completion claims the connection's next run
 * (completeRunAndClaim), as a worker does through a backlog.
 */
async function oursSql(n: number, opts: { oldTrigger?: boolean; merged?: boolean; handoff?: boolean } = {}): Promise<Throughput> {
  const { name, url } = await freshDb("ours_sql", TEMPLATE);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  if (opts.oldTrigger) await sql.unsafe(OLD_EVENT_TRIGGER);
  const clients = Array.from({ length: n }, () => postgres(url, { max: 1, onnotice: () => {} }));
  try {
    for (let i = 0; i < n; i++) {
      await registerWorker(sql, { id: `sql-${i}`, host: "bench", pid: i, backend: "none", device: "none", version: "0" });
    }
    await enqueueRuns(sql, Array.from({ length: JOBS }, () => ({ spec, epochs: 1 })));
    await sql`checkpoint`;
    await Promise.all(clients.map((c) => c`select 1`));
    const sampler = lockSampler(name);
    const wal0 = await walLsn();
    const t0 = performance.now();
    const counts = await Promise.all(clients.map(async (c, i) => {
      let k = 0;
      const claim = { workerId: `sql-${i}`, leaseS: 30 };
      if (opts.handoff) {
        for (let run = await claimRun(c, claim); run !== null; k++) run = (await completeRunAndClaim(c, run, metrics, claim)).next;
        return k;
      }
      for (;;) {
        const run = await claimRun(c, claim);
        if (run === null) return k;
        if (opts.merged) {
          await completeRun(c, run, metrics);
        } else {
          await recordEpoch(c, run, metrics, null);
          await completeRun(c, run);
        }
        k++;
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const wal1 = await walLsn();
    const lockObjectShare = await sampler.stop();
    const jobs = counts.reduce((a, b) => a + b, 0);
    return { jobs, seconds, lockObjectShare, walPerJob: Number(wal1 - wal0) / jobs };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await sql.end();
    await dropDb(name);
  }
}

async function startPool(url: string, n: number, env: Record<string, string> = {}, root?: string): Promise<WorkerProcess[]> {
  const pool = Array.from({ length: n }, (_, i) =>
    startWorker({
      DATABASE_URL: url, TRAINER: "fake", FAKE_BATCH_MS: "0", FAKE_BATCHES: "1", CHECKPOINT_DIR: path.join(dir, "ck"),
      LEASE_S: "30", HEARTBEAT_S: "10", POLL_MS: "2000", LOG_LEVEL: "warn", ...env,
    }, `bench-${i}`, root === undefined ? {} : { root }));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (;;) {
      const [r] = await sql<{ n: number }[]>`select count(*)::int as n from workers where state = 'idle'`;
      if (r!.n >= n) break;
      if (pool.some((w) => w.child.exitCode !== null)) throw new Error(`a bench worker exited:\n${pool.map((w) => w.output()).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await sql.end();
  }
  return pool;
}

async function waitUntilDone(sql: postgres.Sql, limitS = 600): Promise<void> {
  const deadline = Date.now() + limitS * 1000;
  for (;;) {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from runs where state in ('queued', 'running')`;
    if (r!.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${r!.n} runs still queued or running after ${limitS} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function oursProcesses(n: number, env: Record<string, string> = {}, root?: string): Promise<Throughput> {
  const { name, url } = await freshDb("ours_proc", TEMPLATE);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const pool = await startPool(url, n, env, root);
  try {
    // Everything the database committed while the pool drained the backlog (the enqueue is one), and
    // the WAL it wrote: what one run of a real worker process costs the database.
    const xacts = async () => Number((await admin<{ n: string }[]>`
      select xact_commit::text as n from pg_stat_database where datname = ${name}`)[0]!.n);
    await admin`select pg_stat_clear_snapshot()`;
    let x0 = await xacts();
    let wal0 = await walLsn();
    const workerPids = pool.map((w) => w.child.pid!);
    // Long-lived workers run warm code: a warm-up backlog first, as graphile-worker gets (below).
    if (WARMUP > 0) {
      await enqueueRuns(sql, Array.from({ length: WARMUP * n }, () => ({ spec, epochs: 1 })));
      await waitUntilDone(sql);
      // The workers' backends report the warm-up's counts once idle (after up to 10 s): wait for them.
      await new Promise((res) => setTimeout(res, 10_500));
      await admin`select pg_stat_clear_snapshot()`;
      x0 = await xacts();
      wal0 = await walLsn();
    }
    const cpu0 = [await cpuSeconds(workerPids), await cpuSeconds([postmasterPid])];
    const t0 = performance.now();
    await enqueueRuns(sql, Array.from({ length: JOBS }, () => ({ spec, epochs: 1 })));
    await waitUntilDone(sql);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = [await cpuSeconds(workerPids), await cpuSeconds([postmasterPid])];
    const wal1 = await walLsn();
    const [r] = await sql<{ n: number }[]>`select (count(*) - ${WARMUP * n})::int as n from runs where state = 'succeeded'`;
    // A backend reports its counts after it has been idle a while (up to 10 s) or when it exits: stop
    // the workers first (their drain adds a few transactions each), then read.
    await stopWorkers(pool);
    await new Promise((res) => setTimeout(res, 500));
    await admin`select pg_stat_clear_snapshot()`;
    const x1 = await xacts();
    return {
      jobs: r!.n, seconds, walPerJob: Number(wal1 - wal0) / r!.n, xactsPerJob: (x1 - x0) / r!.n,
      workerCpuMs: (1000 * (cpu1[0]! - cpu0[0]!)) / r!.n, postgresCpuMs: (1000 * (cpu1[1]! - cpu0[1]!)) / r!.n,
    };
  } finally {
    await stopWorkers(pool);
    await sql.end();
    await dropDb(name);
  }
}

async function graphileThroughput(n: number): Promise<Throughput> {
  const { name, url } = await freshDb("graphile", null);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  let done = 0;
  let target = WARMUP * n;
  let finished: () => void = () => {};
  let all = new Promise<void>((r) => (finished = r));
  const pool = graphilePool(url, n + 2);
  const runner = await graphile.run({
    pgPool: pool, concurrency: n, noHandleSignals: true, pollInterval: 2000,
    logger: new graphile.Logger(() => () => {}),
    taskList: { job: async () => { if (++done === target) finished(); } },
  });
  try {
    // The same warm-up backlog as our worker processes get.
    if (target > 0) {
      await sql`select graphile_worker.add_job('job', json_build_object('i', i)) from generate_series(1, ${target}::int) i`;
      await all;
      done = 0;
      all = new Promise<void>((r) => (finished = r));
    }
    target = JOBS;
    await sql`checkpoint`;
    const wal0 = await walLsn();
    // graphile-worker runs in this process: its CPU is this process's (the bench's own share is idle waiting).
    const cpu0 = [process.cpuUsage(), await cpuSeconds([postmasterPid])] as const;
    const t0 = performance.now();
    await sql`select graphile_worker.add_job('job', json_build_object('i', i)) from generate_series(1, ${JOBS}::int) i`;
    await all;
    const seconds = (performance.now() - t0) / 1000;
    const mine = process.cpuUsage(cpu0[0]);
    const pgCpu = await cpuSeconds([postmasterPid]) - cpu0[1];
    const wal1 = await walLsn();
    return {
      jobs: done, seconds, walPerJob: Number(wal1 - wal0) / done,
      workerCpuMs: (mine.user + mine.system) / 1000 / done, postgresCpuMs: (1000 * pgCpu) / done,
    };
  } finally {
    await runner.stop();
    await pool.end();
    await sql.end();
    await dropDb(name);
  }
}

async function pgBossThroughput(n: number): Promise<Throughput> {
  // It drains at its polling rate (batch 1 per 0.5 s per work loop): size the backlog to ~5 s.
  const jobs = 10 * n;
  const { name, url } = await freshDb("pgboss", null);
  const PgBoss = pgBossModule.default ?? pgBossModule;
  const boss = new PgBoss({ connectionString: url, max: n + 2, supervise: false, schedule: false });
  boss.on("error", () => {});
  await boss.start();
  await boss.createQueue("q");
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((r) => (finished = r));
  for (let i = 0; i < n; i++) {
    await boss.work("q", { batchSize: 1, pollingIntervalSeconds: 0.5 }, async () => {
      if (++done === jobs) finished();
    });
  }
  try {
    const t0 = performance.now();
    await boss.insert(Array.from({ length: jobs }, (_, i) => ({ name: "q", data: { i } })));
    await all;
    return { jobs: done, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 });
    await dropDb(name);
  }
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
function pause(): Promise<void> {
  return new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
}

async function oursPickup(): Promise<number[]> {
  const { name, url } = await freshDb("ours_pick", TEMPLATE);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const pool = await startPool(url, 4, { POLL_MS: "60000" });
  const out: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = nowMs();
      const [id] = await enqueueRuns(sql, [{ spec, epochs: 1 }]);
      for (;;) {
        const [r] = await sql<{ at: number | null; state: string }[]>`
          select extract(epoch from a.claimed_at) * 1000 as at, r.state
          from runs r left join run_attempts a on a.run_id = r.id and a.attempt = 1 where r.id = ${id!}`;
        if (r!.state === "succeeded") {
          out.push(Number(r!.at) - t0);
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await pause();
    }
    return out;
  } finally {
    await stopWorkers(pool);
    await sql.end();
    await dropDb(name);
  }
}

async function graphilePickup(): Promise<number[]> {
  const { name, url } = await freshDb("graphile_pick", null);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  let resolveJob: (ms: number) => void = () => {};
  const pool = graphilePool(url, 6);
  const runner = await graphile.run({
    pgPool: pool, concurrency: 4, noHandleSignals: true, pollInterval: 60000,
    logger: new graphile.Logger(() => () => {}),
    taskList: { job: async (p: { t0: number }) => resolveJob(nowMs() - p.t0) },
  });
  const out: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < SAMPLES; i++) {
      const got = new Promise<number>((r) => (resolveJob = r));
      const t0 = nowMs();
      await sql`select graphile_worker.add_job('job', json_build_object('t0', ${t0}::float8))`;
      out.push(await got);
      await pause();
    }
    return out;
  } finally {
    await runner.stop();
    await pool.end();
    await sql.end();
    await dropDb(name);
  }
}

async function pgBossPickup(): Promise<number[]> {
  const { name, url } = await freshDb("pgboss_pick", null);
  const PgBoss = pgBossModule.default ?? pgBossModule;
  const boss = new PgBoss({ connectionString: url, max: 6, supervise: false, schedule: false });
  boss.on("error", () => {});
  await boss.start();
  await boss.createQueue("q");
  let resolveJob: (ms: number) => void = () => {};
  for (let i = 0; i < 4; i++) {
    await boss.work("q", { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]: { data: { t0: number } }[]) =>
      resolveJob(nowMs() - job!.data.t0));
  }
  const out: number[] = [];
  try {
    for (let i = 0; i < Math.min(SAMPLES, 20); i++) {
      const got = new Promise<number>((r) => (resolveJob = r));
      await boss.send("q", { t0: nowMs() });
      out.push(await got);
      await pause();
    }
    return out;
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 });
    await dropDb(name);
  }
}

/**
 * Two fake-trainer workers on a database with 2,000 queued runs and two more on one with 20,000, all
 * four at the same time (so both see the same machine load): runs/s of each pair over its first 1,000
 * completions, from the database's claim/end times.
 */
async function drainRates(): Promise<{ small: number; large: number }> {
  const dbs = await Promise.all([2000, 20000].map(async (queued) => {
    const db = await freshDb("ours_drain", TEMPLATE);
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    for (let i = 0; i < queued; i += 5000) {
      await enqueueRuns(sql, Array.from({ length: Math.min(5000, queued - i) }, () => ({ spec, epochs: 1 })));
    }
    await sql`vacuum analyze runs`;
    return { ...db, sql, queued };
  }));
  const pools = await Promise.all(dbs.map((db) => startPool(db.url, 2)));
  try {
    const rates = await Promise.all(dbs.map(async ({ sql, queued }) => {
      for (;;) {
        const [r] = await sql<{ n: number }[]>`select count(*)::int as n from run_attempts where outcome = 'succeeded'`;
        if (r!.n >= 1000) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const [r] = await sql<{ s: number }[]>`
        select extract(epoch from (select ended_at from run_attempts where outcome = 'succeeded' order by ended_at offset 999 limit 1)
          - (select min(claimed_at) from run_attempts))::float8 as s`;
      say(`drain with ${queued} queued: ${(1000 / r!.s).toFixed(0)} runs/s`);
      return 1000 / r!.s;
    }));
    return { small: rates[0]!, large: rates[1]! };
  } finally {
    await Promise.all(pools.map((p) => stopWorkers(p)));
    for (const db of dbs) {
      await db.sql.end();
      await dropDb(db.name);
    }
  }
}
