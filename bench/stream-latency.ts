// Live-stream benchmark: `npm run bench:stream -- [--subscribers 1,1000] [--events 100] [--interval-ms 100]
//   [--fanout-events 200]`.
//
// Starts the real API (`deno run -A api/main.ts`, its own process) on a fresh database (DATABASE_URL's
// server, else an embedded Postgres), opens N WebSocket subscribers on one run in a child process
// (bench/stream-subscribers.ts, so that receiving does not delay the writer), and writes epochs through
// the queue's real fenced writer (recordEpoch) from this process. Latency of one message = when a
// subscriber received it − when recordEpoch's commit returned to the writer (CLOCK_MONOTONIC,
// one clock for both processes on one machine). Measured twice per N: with the API learning of events
// only from Postgres NOTIFY, and with the writer also publishing on a worker socket (whichever reaches
// the API first wins).
// Fan-out: --fanout-events events appended in one transaction, then the time until every subscriber has all of
// them: messages delivered per second.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { freePort } from "../test/helpers/free-port.ts";
import { claimRun } from "../shared/queue/claim-run.ts";
import { completeRun } from "../shared/queue/complete-run.ts";
import { announceRunEvents } from "../shared/queue/announce-run-events.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import type { ClaimedRun } from "../shared/queue/queue-types.ts";
import { recordEpoch } from "../shared/queue/record-epoch.ts";
import { WorkerStream } from "../worker/stream/worker-stream.ts";
import { DENO_BINARY } from "../service/deno-binary.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    subscribers: { type: "string", default: "1,1000" },
    events: { type: "string", default: "100" },
    "interval-ms": { type: "string", default: "100" },
    "fanout-events": { type: "string", default: "200" },
  },
});
const counts = values.subscribers.split(",").map(Number);
const events = Number(values.events);
const intervalMs = Number(values["interval-ms"]);
const fanoutEvents = Number(values["fanout-events"]);
const ADMIN_TOKEN = `rjt_bench_${crypto.randomUUID()}`;

// CLOCK_MONOTONIC, shared with the subscribers' process (performance.timeOrigin can be off by milliseconds).
const wallNow = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- Postgres and the API -------------------------------------------------------------------------
let stopPg = async () => {};
let serverUrl = process.env.DATABASE_URL;
if (serverUrl === undefined) {
  const dir = await mkdtemp(path.join(tmpdir(), "bench-stream-"));
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port: await freePort(), ephemeral: true });
  serverUrl = pg.url;
  stopPg = async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
const dbName = `bench_stream_${Date.now().toString(36)}`;
const dbUrl = await ensureDatabase(serverUrl, dbName);
await migrateDatabase(dbUrl);
const sql = postgres(dbUrl, { max: 4, onnotice: () => {} });
const port = await freePort();
const api = spawn(DENO_BINARY, ["run", "-A", "api/main.ts"], {
  cwd: ROOT,
  env: { ...process.env, DATABASE_URL: dbUrl, HOST: "127.0.0.1", PORT: String(port), ADMIN_TOKEN, LOG_LEVEL: "warn" },
  stdio: ["ignore", "inherit", "inherit"],
});
const base = `127.0.0.1:${port}`;
for (let i = 0;; i++) {
  const ok = await fetch(`http://${base}/healthz`).then((r) => r.ok, () => false);
  if (ok) break;
  if (i > 300) throw new Error("the API did not come up");
  await sleep(100);
}

// --- helpers --------------------------------------------------------------------------------------
let priority = -1000; // spec priorities run from -1000 to 1000: each run is more urgent than the last
async function newRun(): Promise<ClaimedRun> {
  await enqueueRuns(sql, [{ epochs: 1000, priority: priority++ }]);
  const run = await claimRun(sql, { workerId: "bench", leaseS: 600 });
  if (run === null) throw new Error("nothing to claim");
  return run;
}

/** N subscribers on a run, in a child process (so that receiving does not delay the writer's clock). */
async function subscribe(n: number, runId: string, after: number) {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/stream-subscribers.ts", base, ADMIN_TOKEN, runId, String(n), String(after)], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ask = <T>(cmd: string | null, key: string) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          child.off("message", on);
          resolve(m[key] as T);
        }
      };
      child.on("message", on);
      if (cmd !== null) child.send({ cmd });
    });
  await ask<boolean>(null, "ready");
  return {
    count: () => ask<number>("count", "count"),
    report: () => ask<[number, number][][]>("report", "received"),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (ms: number) => ms.toFixed(2);
const lines: string[] = [];
const report = (line: string) => {
  console.log(line);
  lines.push(line);
};

// --- latency --------------------------------------------------------------------------------------
async function latency(n: number, viaWorker: boolean): Promise<void> {
  const run = await newRun();
  const subs = await subscribe(n, run.runId, 1);
  let worker: WorkerStream | null = null;
  if (viaWorker) {
    worker = new WorkerStream({ apiUrl: `http://${base}`, token: ADMIN_TOKEN });
    worker.start();
    while (!worker.connected) await sleep(5);
  }
  await sleep(200);
  const committed = new Map<number, number>();
  for (let epoch = 1; epoch <= events; epoch++) {
    const m = { epoch, loss: 1 / epoch, acc: 0.5, valLoss: 1.1 / epoch, valAcc: 0.4, lr: 1e-3, wd: 1e-4, seconds: 1, imagesPerSec: 1000 };
    const seq = await recordEpoch(sql, run, m, null);
    committed.set(seq, wallNow());
    worker?.publishEvent({ runId: run.runId, seq, type: "epoch", payload: { ...m, attempt: run.attempt } });
    await sleep(intervalMs);
  }
  const deadline = Date.now() + 30_000;
  while ((await subs.count()) < n * events && Date.now() < deadline) await sleep(20);
  const received = await subs.report();
  const samples: number[] = [];
  let missing = 0;
  for (const r of received) {
    const bySeq = new Map(r);
    for (const [seq, t] of committed) {
      const at = bySeq.get(seq);
      if (at === undefined) missing++;
      else samples.push(at - t);
    }
  }
  samples.sort((a, b) => a - b);
  report(
    `| ${n} | ${viaWorker ? "worker socket + NOTIFY" : "NOTIFY only"} | ${events} | ${samples.length} | ` +
      `${fmt(percentile(samples, 50))} | ${fmt(percentile(samples, 99))} | ${fmt(samples.at(-1)!)} | ${fmt(samples[0]!)} | ${missing} |`,
  );
  await completeRun(sql, run);
  await worker?.close();
  await sleep(300);
}

// --- fan-out --------------------------------------------------------------------------------------
async function fanout(n: number): Promise<void> {
  const run = await newRun();
  const subs = await subscribe(n, run.runId, 1);
  await sleep(300);
  const t0 = wallNow();
  // One transaction, many events, then one announcement of the last (as every writer announces after
  // its commit): the API reads every row after what it has, in pages.
  const lastSeq = await sql.begin(async (tx) => {
    const [r] = await tx<{ last_seq: number }[]>`
      update runs set last_seq = last_seq + ${fanoutEvents} where id = ${run.runId} returning last_seq::float8 as last_seq`;
    const first = r!.last_seq - fanoutEvents + 1;
    await tx`
      insert into run_events (run_id, seq, type, payload)
      select ${run.runId}, s, 'epoch', jsonb_build_object('epoch', s, 'loss', 1.0 / s, 'acc', 0.5, 'valLoss', 1.1,
        'valAcc', 0.4, 'lr', 0.001, 'wd', 0.0001, 'seconds', 1, 'imagesPerSec', 1000, 'attempt', ${run.attempt}::int)
      from generate_series(${first}::bigint, ${r!.last_seq}::bigint) s`;
    return r!.last_seq;
  });
  announceRunEvents(sql, [{ runId: run.runId, seq: lastSeq }]);
  const tCommit = wallNow();
  const deadline = Date.now() + 120_000;
  while ((await subs.count()) < n * fanoutEvents && Date.now() < deadline) await sleep(10);
  const received = await subs.report();
  const delivered = received.reduce((sum, r) => sum + r.length, 0);
  // The last arrival, as the subscribers' process saw it.
  const t1 = Math.max(...received.map((r) => r.at(-1)?.[1] ?? 0));
  report(
    `| ${n} | ${fanoutEvents} | ${delivered} | ${fmt(t1 - tCommit)} | ${Math.round(delivered / ((t1 - tCommit) / 1000))} | ${fmt(tCommit - t0)} |`,
  );
  await completeRun(sql, run);
  await sleep(300);
}

try {
  report(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; Node ${process.version}; API: deno run api/main.ts (separate process)`);
  report(`command: npm run bench:stream -- --subscribers ${values.subscribers} --events ${events} --interval-ms ${intervalMs} --fanout-events ${fanoutEvents}`);
  report("");
  report("commit → receive latency (ms), one epoch every " + intervalMs + " ms:");
  report("");
  report("| subscribers | API learns from | events | samples | p50 | p99 | max | min | missing |");
  report("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const n of counts) {
    await latency(n, false);
    await latency(n, true);
  }
  report("");
  report("fan-out: events appended in one transaction, until every subscriber has every one:");
  report("");
  report("| subscribers | events | messages delivered | ms after commit | messages/s | commit ms |");
  report("|---:|---:|---:|---:|---:|---:|");
  for (const n of counts) await fanout(n);
} finally {
  api.kill("SIGTERM");
  await new Promise((r) => api.once("exit", r));
  await sql.end();
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
  await stopPg();
}
