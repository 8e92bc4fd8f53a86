// An external Postgres (DATABASE_URL; here one this test starts itself) goes away and comes back, as a
// managed database's restart or failover does, longer than a lease, while a worker and the API run
// against it. Neither is restarted: /healthz returns to 200, the run in flight keeps its attempt with
// each epoch recorded and streamed once (the worker has no socket to the API, so the stream's epochs
// come through the API's LISTEN: it must have listened again), and new work is claimed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { createApiToken } from "../shared/api-tokens.ts";
import { ensureDatabase } from "../service/database.ts";
import { DENO_BINARY } from "../service/deno-binary.ts";
import { type RunningPostgres, startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { type FollowedRun, followRun } from "./helpers/follow-run.ts";
import { freePort } from "./helpers/free-port.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";
import { eventually, FAST_QUEUE_ENV, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EPOCHS = 8;
const OUTAGE_MS = 5000; // longer than LEASE_S (3 s): every lease runs out while the server is away
let dir = "";
let server: RunningPostgres | null = null;
let sql: postgres.Sql | null = null;
let api: ChildProcess | null = null;
const workers: WorkerProcess[] = [];

const streams: FollowedRun[] = [];
after(async () => {
  for (const s of streams) s.stop();
  await stopWorkers(workers);
  if (api && api.exitCode === null && api.signalCode === null) {
    api.kill("SIGKILL");
  }
  await sql?.end({ timeout: 1 }).catch(() => {});
  await server?.stop();
  if (dir) await removeDataDir(dir);
});

const query = async <T>(q: (db: postgres.Sql) => Promise<T>): Promise<T | undefined> => q(sql!).catch(() => undefined);

test("an external Postgres stopped and restarted under a worker and the API: both recover without a restart", { timeout: 150_000 }, async () => {
  dir = await mkdtemp(path.join(tmpdir(), "pg-failover-"));
  const pgPort = await freePort();
  // Not ephemeral: its stop() must keep the data for the restart (the after hook removes the folder).
  server = await startEmbeddedPostgres({ dataDir: path.join(dir, "postgres"), port: pgPort });
  const url = await ensureDatabase(server.url, "failover");
  await migrateDatabase(url);
  sql = postgres(url, { max: 2, onnotice: () => {} });
  const token = (await createApiToken(sql, { name: "failover read", scopes: ["read"] })).token;

  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  let apiOut = "";
  api = spawn(DENO_BINARY, ["run", "-A", "api/main.ts", "--stop-with-parent"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  api.stdout!.on("data", (d: Buffer) => (apiOut += d));
  api.stderr!.on("data", (d: Buffer) => (apiOut += d));
  const apiExited = new Promise<number | null>((r) => api!.once("exit", (code) => r(code)));
  const healthy = () => fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
  await eventually("the API up", healthy, 60_000);

  const worker = startWorker({
    DATABASE_URL: url, TRAINER: "fake", FAKE_BATCH_MS: "100", FAKE_BATCHES: "10", CHECKPOINT_DIR: path.join(dir, "ck"),
  }, "failover-w");
  workers.push(worker);
  await worker.waitFor(/ready/, 60_000);

  const [id] = await enqueueRuns(sql, [{ spec: { schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]` }, epochs: EPOCHS }]);
  const stream = followRun(apiUrl, token, id!);
  streams.push(stream);
  await eventually("two epochs recorded", async () => {
    const rows = await query((db) => db<{ n: number }[]>`select count(*)::int as n from epoch_metrics where run_id = ${id!}`);
    return (rows?.[0]?.n ?? 0) >= 2;
  }, 60_000);

  await server.stop();
  const stoppedAt = Date.now();
  await eventually("/healthz 503 while the server is away", async () => !(await healthy()), 10_000);
  await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - stoppedAt)));
  await server.restart();
  const backAt = Date.now();

  const healthyMs = await eventually("/healthz 200 again", async () => (await healthy()) ? Date.now() - backAt : undefined, 30_000);
  const resumedLine = await worker.waitFor(/the write went through|the lease is still ours/, 30_000);
  const writeMs = Date.now() - backAt;
  await eventually("the run succeeded", async () => {
    const rows = await query((db) => db`select state from runs where id = ${id!}`);
    return rows?.[0]?.state === "succeeded";
  }, 60_000);
  await stream.finished;
  const streamMs = Date.now() - backAt;

  const [run] = await sql`select attempt, releases, state from runs where id = ${id!}`;
  assert.deepEqual({ ...run }, { attempt: 1, releases: 0, state: "succeeded" }, "the lease survived the outage");
  const attempts = await sql`select attempt, outcome from run_attempts where run_id = ${id!}`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [{ attempt: 1, outcome: "succeeded" }]);
  const all = Array.from({ length: EPOCHS }, (_, i) => i + 1);
  const events = await sql<{ epoch: number }[]>`
    select (payload ->> 'epoch')::int as epoch from run_events where run_id = ${id!} and type = 'epoch' order by seq`;
  assert.deepEqual(events.map((e) => e.epoch), all, "each epoch recorded once");
  const streamed = stream.durable();
  assert.deepEqual(streamed.filter((m) => m.type === "epoch").map((m) => m.epoch), all, "each epoch streamed once");
  const seqs = streamed.map((m) => m.seq as number);
  assert.equal(new Set(seqs).size, seqs.length);
  assert.doesNotMatch(worker.output(), /abandoned|lease_expired|failed \(crashed|fatal/);
  assert.match(worker.output(), /LISTEN connection back/);

  // Waiting work is claimed again (the worker's claims, and its LISTEN or poll, work).
  const [second] = await enqueueRuns(sql, [{ spec: { schedule: "[1e-3, 0]lin[1e-3, 1]" }, epochs: 1 }]);
  await eventually("new work claimed and done", async () => {
    const rows = await query((db) => db`select state from runs where id = ${second!}`);
    return rows?.[0]?.state === "succeeded";
  }, 30_000);

  // Nobody was restarted: the same API process and worker process stop cleanly now.
  api.kill("SIGTERM");
  assert.equal(await apiExited, 0, apiOut);
  await stopWorkers([worker]);
  assert.equal((await worker.exited).code, 0, worker.output());
  console.log(`# external Postgres away ${OUTAGE_MS} ms: /healthz 200 ${healthyMs} ms after it came back; ` +
    `the worker's write went through ${writeMs} ms after ("${resumedLine.replace(/^.*?: run /, "run ")}"); ` +
    `stream complete ${streamMs} ms after (${stream.reconnects()} reconnects); attempt 1 kept`);
});
