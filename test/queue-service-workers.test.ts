// `npm start` with WORKERS=2 (fake trainer): both workers register, run work, a worker killed with
// kill -9 is restarted by the supervisor, and Ctrl-C drains them all.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { embeddedDatabaseUrl } from "../shared/postgres-secret.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { freePort } from "./helpers/free-port.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";
import { eventually, FAST_QUEUE_ENV } from "./helpers/worker-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDataDir(d);
});

let child: ChildProcess | null = null;
let out = "";
let sql: postgres.Sql | null = null;
after(async () => {
  await sql?.end().catch(() => {});
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

test("npm start runs WORKERS workers and restarts one killed with -9", { timeout: 90_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "queue-service-"));
  dirs.push(dataDir);
  const pgPort = await freePort();
  child = spawn(process.execPath, ["--import", "tsx", "service/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env, ...FAST_QUEUE_ENV, DATABASE_URL: "", DATA_DIR: dataDir, PG_PORT: String(pgPort), PORT: String(await freePort()),
      WORKERS: "2", TRAINER: "fake", FAKE_BATCH_MS: "5", FAKE_BATCHES: "2",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  await eventually("service running", async () => out.includes("service running"), 60_000);
  const db = sql = postgres(await embeddedDatabaseUrl(dataDir, pgPort, "resnet_jobs"), { max: 2, onnotice: () => {} });
  if (process.env.QUEUE_TEST_VERBOSE) child.stdout!.on("data", (d: Buffer) => process.stderr.write(d));
  const live = () => db<{ id: string; pid: number }[]>`select id, pid from workers where state <> 'gone' order by id`;
  await eventually("two workers registered", async () => (await live()).length === 2, 60_000);
  const spec = { schedule: "[1e-3, 0]lin[1e-3, 2]", optimizer: { alpha: 1e-3 } };
  await enqueueRuns(db, Array.from({ length: 20 }, () => ({ spec, epochs: 2 })));
  await eventually("20 runs done", async () => {
    const [r] = await db<{ n: number }[]>`select count(*)::int as n from runs where state = 'succeeded'`;
    return r!.n === 20;
  }, 30_000);
  const [byWorker] = await db<{ n: number }[]>`select count(distinct worker_id)::int as n from run_attempts`;
  assert.equal(byWorker!.n, 2, "both workers ran runs");

  const [victim] = await live();
  process.kill(victim!.pid, "SIGKILL");
  await eventually("the killed worker replaced", async () => {
    const now = await live();
    return now.length === 2 && !now.some((w) => w.id === victim!.id) ? now : undefined;
  }, 30_000);
  assert.match(out, /\[worker-\d\] exited \(SIGKILL\); restarting/);
});

test("Ctrl-C drains the workers before Postgres stops, and npm start exits 0", {
  timeout: 60_000,
}, async () => {
  assert.ok(child, "the service from the previous test");
  const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
  await sql?.end();
  sql = null;
  child.kill("SIGINT");
  const code = await exited;
  assert.match(out, /\[worker-1\] .*stopped/);
  assert.match(out, /\[worker-2\] .*stopped/);
  assert.equal(code, 0);
});
