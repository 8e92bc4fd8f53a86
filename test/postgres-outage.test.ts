// The embedded Postgres killed with -9 under `npm start`, as an OOM kill would: the supervisor says so
// in one line and restarts it (crash recovery), every client finds it again without a restart, and the
// run in flight keeps its attempt with each epoch recorded and streamed exactly once. Then: SIGTERM while
// Postgres is down stops promptly, and a Postgres that cannot come back stops the service with exit 1.
// The time each recovery took is printed (`# …` lines).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { embeddedDatabaseUrl } from "../shared/postgres-secret.ts";
import { freePort } from "./helpers/free-port.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";
import { type FollowedRun, followRun } from "./helpers/follow-run.ts";
import { processTree, stillAlive } from "./helpers/process-tree.ts";
import { npmMissing, type NpmProcess, sigtermNpm, startNpm } from "./helpers/npm-process.ts";
import { eventually } from "./helpers/worker-process.ts";

const EPOCHS = 10;
const ADMIN_TOKEN = `rjt_${randomBytes(32).toString("base64url")}`;
let dataDir = "";
let env: Record<string, string> = {};
let npm: NpmProcess | null = null;
let sql: postgres.Sql | null = null;
let apiUrl = "";

const streams: FollowedRun[] = [];
after(async () => {
  for (const s of streams) s.stop();
  await sql?.end({ timeout: 1 }).catch(() => {});
  if (npm && npm.child.exitCode === null && npm.child.signalCode === null) {
    npm.child.kill("SIGTERM");
    await npm.exited;
  }
  if (dataDir) await removeDataDir(dataDir);
});

const postmasterPid = async () => Number((await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]);
/** Postgres processes of this cluster (as root it lives elsewhere and DATA_DIR/postgres links to it). */
const postmasters = () => {
  const cluster = realpathSync(path.join(dataDir, "postgres"));
  return execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(cluster) && /postgres/.test(l));
};
const healthy = () => fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
/** A query that answers undefined while Postgres is down (the test's own client rides the outage too). */
const query = async <T>(q: (db: postgres.Sql) => Promise<T>): Promise<T | undefined> => q(sql!).catch(() => undefined);

async function submit(epochs: number): Promise<string> {
  const res = await fetch(`${apiUrl}/v1/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "outage", schedule: `[1e-3, 0]lin[1e-3, ${epochs}]` }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

async function epochsRecorded(id: string): Promise<number | undefined> {
  const rows = await query((db) => db<{ n: number }[]>`select count(*)::int as n from epoch_metrics where run_id = ${id}`);
  return rows?.[0]?.n;
}

test("kill -9 of the embedded postmaster mid-run: one line, restarted, /healthz back, the run keeps its attempt, each epoch once", {
  skip: npmMissing, timeout: 150_000,
}, async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "pg-outage-"));
  const pgPort = await freePort();
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  env = {
    DATABASE_URL: "", DATA_DIR: dataDir, PG_PORT: String(pgPort), PORT: String(port), ADMIN_TOKEN, WORKERS: "1",
    TRAINER: "fake", FAKE_BATCH_MS: "100", FAKE_BATCHES: "10",
  };
  npm = startNpm(["start"], env);
  await npm.waitFor(/service running/, 90_000);
  sql = postgres(await embeddedDatabaseUrl(dataDir, pgPort, "resnet_jobs"), { max: 2, onnotice: () => {} });

  const id = await submit(EPOCHS);
  const stream = followRun(apiUrl, ADMIN_TOKEN, id);
  streams.push(stream);
  await eventually("three epochs recorded", async () => ((await epochsRecorded(id)) ?? 0) >= 3, 60_000);
  const before = (await epochsRecorded(id))!;
  process.kill(await postmasterPid(), "SIGKILL");
  const killedAt = Date.now();

  const backLine = await npm.waitFor(/postgres: back after/, 60_000);
  const healthyMs = await eventually("/healthz 200 again", async () => (await healthy()) ? Date.now() - killedAt : undefined, 60_000);
  const nextEpochMs = await eventually("the next epoch recorded", async () =>
    ((await epochsRecorded(id)) ?? 0) > before ? Date.now() - killedAt : undefined, 60_000);
  await eventually("the run succeeded", async () => {
    const rows = await query((db) => db`select state from runs where id = ${id}`);
    return rows?.[0]?.state === "succeeded";
  }, 60_000);
  await stream.finished;
  const streamedMs = Date.now() - killedAt;

  const out = npm.output();
  assert.equal(out.match(/postgres: the embedded server exited/g)?.length, 1, "one line says Postgres died");
  assert.match(out, /postgres: the embedded server exited \(signal SIGKILL\); restarting it in 1 s \(crash recovery\)/);
  const [run] = await sql`select attempt, releases, state from runs where id = ${id}`;
  assert.deepEqual({ ...run }, { attempt: 1, releases: 0, state: "succeeded" }, "the attempt was kept");
  const attempts = await sql`select attempt, outcome from run_attempts where run_id = ${id}`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [{ attempt: 1, outcome: "succeeded" }]);
  const metrics = await sql<{ epoch: number }[]>`select epoch from epoch_metrics where run_id = ${id} order by epoch`;
  assert.deepEqual(metrics.map((m) => m.epoch), Array.from({ length: EPOCHS }, (_, i) => i + 1));
  const events = await sql<{ epoch: number }[]>`
    select (payload ->> 'epoch')::int as epoch from run_events where run_id = ${id} and type = 'epoch' order by seq`;
  assert.deepEqual(events.map((e) => e.epoch), Array.from({ length: EPOCHS }, (_, i) => i + 1), "each epoch event once");
  const streamed = stream.durable();
  assert.deepEqual(streamed.filter((m) => m.type === "epoch").map((m) => m.epoch), Array.from({ length: EPOCHS }, (_, i) => i + 1),
    "each epoch streamed once");
  const seqs = streamed.map((m) => m.seq as number);
  assert.equal(new Set(seqs).size, seqs.length, "no durable event streamed twice");
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.doesNotMatch(out, /lease_expired|abandoned|failed \(crashed/);
  // The API's LISTEN was found dead once and listened again once (not in a loop).
  assert.ok((out.match(/LISTEN connection lost; listening again/g)?.length ?? 0) <= 1, "the API re-listened once");
  console.log(`# kill -9 of the postmaster: ${backLine.replace(/^.*postgres: /, "Postgres ")}; /healthz 200 after ${healthyMs} ms; ` +
    `next epoch recorded after ${nextEpochMs} ms; stream complete ${streamedMs} ms after the kill (${stream.reconnects()} reconnects); attempt 1 kept`);
});

test("SIGTERM to npm start while Postgres is down: stops within a few seconds, exit 0, no orphan, no restart", {
  skip: npmMissing, timeout: 60_000,
}, async () => {
  assert.ok(npm, "the service from the previous test");
  const id = await submit(50);
  await eventually("the run one epoch in", async () => ((await epochsRecorded(id)) ?? 0) >= 1, 60_000);
  process.kill(await postmasterPid(), "SIGKILL");
  await npm.waitFor(/postgres: the embedded server exited .* restarting it in 2 s/, 10_000);
  const { code, ms, left } = await sigtermNpm(npm);
  assert.deepEqual(left, [], `processes left running:\n${left.join("\n")}`);
  assert.deepEqual(postmasters(), []);
  assert.equal(code, 0, npm.output());
  const afterStop = npm.output().slice(npm.output().indexOf("SIGTERM: stopping"));
  assert.doesNotMatch(afterStop, /postgres: back after/, "no restart once stopping");
  assert.ok(ms < 8000, `the stop took ${ms} ms`);
  console.log(`# SIGTERM while Postgres is down: exited 0 after ${ms} ms`);
});

test("a Postgres that cannot come back (damaged data directory): npm start says so and exits 1, no orphan", {
  skip: npmMissing, timeout: 90_000,
}, async () => {
  await sql?.end({ timeout: 1 }).catch(() => {});
  sql = null;
  npm = startNpm(["start"], { ...env, WORKERS: "0", PG_RESTARTS: "2" });
  await npm.waitFor(/service running/, 90_000);
  await writeFile(path.join(dataDir, "postgres", "PG_VERSION"), "9\n");
  process.kill(await postmasterPid(), "SIGKILL");
  const killedAt = Date.now();
  const tree = processTree(npm.child.pid!);
  const { code } = await npm.exited;
  const ms = Date.now() - killedAt;
  assert.equal(code, 1, npm.output());
  const left = await eventually("no process left", async () => stillAlive(tree).length === 0 ? [] : undefined, 5000)
    .catch(() => stillAlive(tree));
  assert.deepEqual(left, [], `processes left running:\n${left.join("\n")}`);
  assert.match(npm.output(), /postgres: restart failed: Postgres exited before it was ready .*incompatible/);
  assert.match(npm.output(), /postgres: could not restart the embedded server after 2 tries \(.*\); stopping/);
  await eventually("no Postgres left", async () => postmasters().length === 0, 5000);
  console.log(`# Postgres unable to restart: npm start gave up and exited 1 after ${ms} ms`);
});
