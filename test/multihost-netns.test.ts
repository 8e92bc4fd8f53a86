// Workers on different hosts that share nothing but Postgres (issue 17), on this machine: host A is
// the test's own network namespace (Postgres, reached through A's bridge address, and the API), hosts
// B and C are network namespaces on veth links, each with a worker with its own DATA_DIR and
// CHECKPOINT_DIR and CHECKPOINT_STORE=postgres. Real processes, real sockets, kill -9, a cut link.
// B is whichever host's worker claims the run (both are started first), C the other.
// - kill -9 of B's worker mid-run: C resumes from the checkpoint B stored in Postgres (the real
//   trainer's), each epoch recorded once;
// - B's link cut mid-run (a partition, not a crash): B's lease expires and C takes over; when the link
//   is back B's next write is fenced, B abandons the run and goes on serving; nothing duplicated;
// - the API on A streams every epoch, once, to a subscriber in C's namespace.
// Skips, saying why, without root or network namespaces.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DENO_BINARY } from "../service/deno-binary.ts";
import { createApiToken } from "../shared/api-tokens.ts";
import { parseRunSpec } from "../shared/run-spec.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { createNetnsHosts, type NetnsHosts, netnsUnavailable } from "./helpers/netns-hosts.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { eventually, FAST_QUEUE_ENV, startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LEASE_S = Number(FAST_QUEUE_ENV.LEASE_S);
const skip = netnsUnavailable();
if (skip) console.log(`# skipping the multi-host tests: ${skip}`);

let net: NetnsHosts;
let db: TestDatabase;
let scratch: string;
let api: ChildProcess | null = null;
let apiUrl: string;
let dbUrlOnA: string;
let readToken: string;
let workerToken: string;
const workers: WorkerProcess[] = [];
const subscribers: ChildProcess[] = [];

before(async () => {
  if (skip) return;
  db = await createTestDatabase();
  scratch = await mkdtemp(path.join(tmpdir(), "multihost-"));
  net = await createNetnsHosts(["b", "c"]);
  const relayPort = await net.relay(Number(new URL(db.url).port));
  const u = new URL(db.url);
  u.hostname = net.aAddress;
  u.port = String(relayPort);
  dbUrlOnA = u.toString();
  readToken = (await createApiToken(db.sql, { name: "multihost read", scopes: ["read"] })).token;
  workerToken = (await createApiToken(db.sql, { name: "multihost worker", scopes: ["worker"] })).token;
  const port = await listenPortOnA();
  apiUrl = `http://${net.aAddress}:${port}`;
  api = spawn(DENO_BINARY, ["run", "-A", "api/main.ts", "--stop-with-parent"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: db.url, HOST: net.aAddress, PORT: String(port), LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await eventually("the API on host A", async () => {
    if (api!.exitCode !== null) throw new Error(`the API exited with ${api!.exitCode}`);
    return fetch(`${apiUrl}/healthz`).then((r) => r.ok, () => false);
  }, 60_000);
});

after(async () => {
  if (skip) return;
  try {
    for (const s of subscribers) if (s.exitCode === null) s.kill("SIGKILL");
    for (const h of ["b", "c"]) net.restoreLink(h);
    await stopWorkers(workers);
    if (api && api.exitCode === null) {
      const exited = new Promise((r) => api!.once("exit", r));
      api.kill("SIGTERM");
      await exited;
    }
  } finally {
    await net.destroy();
    await db.drop();
    await rm(scratch, { recursive: true, force: true });
  }
});

// Each test's workers stop with it, passed or failed: a worker left over from a failed test would
// claim the next test's run and fail that one too.
afterEach(async () => {
  if (skip) return;
  for (const h of ["b", "c"]) net.restoreLink(h);
  await stopWorkers(workers.splice(0));
});

/** A free port on A's bridge address (the API binds there, for B and C to reach it). */
async function listenPortOnA(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, net.aAddress, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A worker on `host` with its own folders; all it shares with the others is A's Postgres and API. */
async function hostWorker(host: Host, id: string, env: Record<string, string>): Promise<WorkerProcess> {
  const home = path.join(scratch, id);
  await mkdir(home, { recursive: true });
  const w = startWorker({
    DATABASE_URL: dbUrlOnA,
    API_URL: apiUrl,
    WORKER_TOKEN: workerToken,
    DATA_DIR: path.join(home, "data"),
    CHECKPOINT_DIR: path.join(home, "checkpoints"),
    CHECKPOINT_STORE: "postgres",
    ...env,
  }, id, { netns: net.host(host).ns });
  workers.push(w);
  await w.waitFor(/ready/, 90_000);
  return w;
}

type Host = "b" | "c";

/**
 * A worker on each of the two hosts, both ready before the run is enqueued (so neither start-up races
 * the run), and their roles: B is the host whose worker claimed the run, C the other one.
 */
async function twoHosts(prefix: string, env: Record<string, string>, enqueue: () => Promise<string>) {
  const [onB, onC] = await Promise.all([hostWorker("b", `${prefix}-b`, env), hostWorker("c", `${prefix}-c`, env)]);
  const id = await enqueue();
  const owner = await eventually("a worker to claim the run", async () => (await runRow(id)).worker_id as string | null ?? undefined, 30_000);
  const bHost: Host = owner === onB.id ? "b" : "c";
  const cHost: Host = bHost === "b" ? "c" : "b";
  return { id, bHost, cHost, b: bHost === "b" ? onB : onC, c: bHost === "b" ? onC : onB };
}

interface Subscription {
  /** Every message, once the server closed the stream. */
  done: Promise<Record<string, unknown>[]>;
}

/** Subscribes to the run's stream from a process in `host`'s namespace, through A's API. */
async function subscribeFrom(host: Host, runId: string): Promise<Subscription> {
  const url = `${apiUrl.replace("http:", "ws:")}/v1/runs/${runId}/stream?after=0`;
  const child = spawn("ip", ["netns", "exec", net.host(host).ns, process.execPath, "--import", "tsx", "test/helpers/stream-subscriber-main.ts", url, readToken], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  subscribers.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  await eventually(`the subscriber in ${host} to connect`, async () => {
    if (child.exitCode !== null) throw new Error(`the subscriber exited: ${out}`);
    return out.includes("open\n");
  }, 30_000);
  const done = new Promise<Record<string, unknown>[]>((resolve, reject) =>
    child.once("exit", (code) => {
      if (code !== 0 || !/closed 1000/.test(out)) reject(new Error(`subscriber in ${host} ended with ${code}: ${out}`));
      else resolve(out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>));
    })
  );
  return { done };
}

async function runRow(id: string) {
  const [r] = await db.sql`select state, attempt, worker_id, checkpoint_path, checkpoint_epoch from runs where id = ${id}`;
  return r!;
}

/** Metrics rows and durable `epoch` events per epoch, and who wrote each row. */
async function recorded(id: string) {
  const rows = await db.sql`select epoch, attempt from epoch_metrics where run_id = ${id} order by epoch`;
  const events = await db.sql`select (payload->>'epoch')::int as epoch from run_events where run_id = ${id} and type = 'epoch' order by seq`;
  return { rows: rows.map((r) => ({ epoch: r.epoch as number, attempt: r.attempt as number })), events: events.map((e) => e.epoch as number) };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const streamedEpochs = (messages: Record<string, unknown>[]) => messages.filter((m) => m.type === "epoch").map((m) => m.epoch);

test("kill -9 of B's worker mid-run: C resumes from the checkpoint B stored in Postgres, each epoch recorded and streamed once", { skip: skip ?? false, timeout: 180_000 }, async () => {
  const EPOCHS = 5;
  const parsed = parseRunSpec({
    name: "multihost kill -9",
    schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]`,
    model: { depth: 11 },
    batchSize: 16,
    data: { dataset: "synthetic", trainSize: 256, imageSize: 8, validationSize: 32 },
  });
  assert.ok(parsed.ok);
  const real = { TRAINER: "real", BACKEND: "wasm" };
  const { id, b, c, cHost } = await twoHosts("kill", real, async () =>
    (await enqueueRuns(db.sql, [{ name: "multihost kill -9", spec: parsed.spec, epochs: EPOCHS }]))[0]!);
  const sub = await subscribeFrom(cHost, id);
  await eventually("an epoch checkpointed by B", async () => ((await runRow(id)).checkpoint_epoch ?? 0) >= 1, 90_000);
  b.child.kill("SIGKILL");
  const killedAt = Date.now();
  assert.equal((await b.exited).signal, "SIGKILL");
  const atKill = await runRow(id);
  assert.equal(atKill.state, "running", "killed mid-run");
  const ref = atKill.checkpoint_path as string;
  assert.match(ref, /^postgres:/);
  const [stored] = await db.sql`select attempt, epoch, size from checkpoints where id = ${ref.slice("postgres:".length)}::uuid`;
  assert.equal(stored!.attempt, 1, "the checkpoint was written by B's attempt");

  const detectMs = await eventually("B's lease to expire", async () => {
    const [a] = await db.sql`select outcome from run_attempts where run_id = ${id} and attempt = 1`;
    return a?.outcome === "lease_expired" ? Date.now() - killedAt : undefined;
  }, 30_000);
  const line = await c.waitFor(new RegExp(`run ${id} attempt 2: started from checkpoint`), 30_000);
  const resumeMs = Date.now() - killedAt;
  assert.ok(line.endsWith(`from checkpoint ${ref}`), `C resumed from B's checkpoint ${ref}: ${line}`);
  await eventually("the run to succeed on C", async () => (await runRow(id)).state === "succeeded", 120_000);
  const doneMs = Date.now() - killedAt;

  const { rows, events } = await recorded(id);
  assert.deepEqual(rows.map((r) => r.epoch), range(EPOCHS), "one metrics row per epoch");
  assert.deepEqual(events, range(EPOCHS), "one epoch event per epoch");
  for (const r of rows) assert.equal(r.attempt, r.epoch <= (atKill.checkpoint_epoch as number) ? 1 : 2, `epoch ${r.epoch} written by ${r.attempt}`);
  const attempts = await db.sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id} order by attempt`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [
    { attempt: 1, worker_id: b.id, outcome: "lease_expired" },
    { attempt: 2, worker_id: c.id, outcome: "succeeded" },
  ]);
  const messages = await sub.done;
  assert.deepEqual(streamedEpochs(messages), range(EPOCHS), "C's subscriber got every epoch once");
  // Nothing went through either host's folders, and the finished run left nothing in Postgres.
  for (const h of [b.id, c.id]) {
    const files = await readdir(path.join(scratch, h, "checkpoints")).catch(() => []);
    assert.deepEqual(files, [], `no checkpoint files on ${h}`);
  }
  // The finishing worker deletes them right after it recorded the success (RunCheckpoints.finish).
  await eventually("the finished run's checkpoints to be deleted from Postgres", async () => {
    const [left] = await db.sql`select count(*)::int as n from checkpoints where run_id = ${id}`;
    return left!.n === 0;
  }, 15_000);
  console.log(
    `# multihost kill -9: lease expiry seen ${detectMs} ms after the kill, C resumed from B's epoch-${atKill.checkpoint_epoch} ` +
      `checkpoint (${stored!.size} bytes in Postgres) after ${resumeMs} ms, run done after ${doneMs} ms (LEASE_S ${LEASE_S})`,
  );
  await stopWorkers([c]);
});

test("B's link cut mid-run: its lease expires, C takes over; with the link back B's next write is fenced, B abandons the run and goes on serving; nothing duplicated, every epoch streamed to C's side once", { skip: skip ?? false, timeout: 180_000 }, async () => {
  const EPOCHS = 10;
  const fake = { TRAINER: "fake", FAKE_BATCHES: "5", FAKE_BATCH_MS: "100" };
  const { id, b, c, bHost, cHost } = await twoHosts("cut", fake, async () =>
    (await enqueueRuns(db.sql, [{ spec: { schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]` }, epochs: EPOCHS }]))[0]!);
  const sub = await subscribeFrom(cHost, id);
  await eventually("an epoch recorded by B", async () => ((await runRow(id)).checkpoint_epoch ?? 0) >= 1, 30_000);

  net.cutLink(bHost);
  const cutAt = Date.now();
  const detectMs = await eventually("B's lease to expire", async () => {
    const [a] = await db.sql`select outcome from run_attempts where run_id = ${id} and attempt = 1`;
    return a?.outcome === "lease_expired" ? Date.now() - cutAt : undefined;
  }, 30_000);
  await c.waitFor(new RegExp(`run ${id} attempt 2: started from checkpoint postgres:`), 30_000);
  const resumeMs = Date.now() - cutAt;
  const atTakeover = await recorded(id);
  const recordedByB = atTakeover.rows.filter((r) => r.attempt === 1).length;
  assert.equal(b.child.exitCode, null, "B is alive, only cut off");

  net.restoreLink(bHost);
  const healedAt = Date.now();
  const abandoned = await b.waitFor(new RegExp(`run ${id} attempt 1: abandoned, lease lost`), 90_000);
  const fencedMs = Date.now() - healedAt;
  await eventually("the run to succeed on C", async () => (await runRow(id)).state === "succeeded", 60_000);

  const { rows, events } = await recorded(id);
  assert.deepEqual(rows.map((r) => r.epoch), range(EPOCHS), "one metrics row per epoch");
  assert.deepEqual(events, range(EPOCHS), "one epoch event per epoch: B wrote nothing after the cut");
  assert.equal(rows.filter((r) => r.attempt === 1).length, recordedByB, "no epoch from B after C took over");
  const attempts = await db.sql`select attempt, worker_id, outcome from run_attempts where run_id = ${id} order by attempt`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [
    { attempt: 1, worker_id: b.id, outcome: "lease_expired" },
    { attempt: 2, worker_id: c.id, outcome: "succeeded" },
  ]);
  assert.deepEqual(streamedEpochs(await sub.done), range(EPOCHS), "C's subscriber got every epoch once");

  // B goes on serving: with C gone, B alone takes and finishes the next run.
  await stopWorkers([c]);
  const [next] = await enqueueRuns(db.sql, [{ spec: { schedule: "[1e-3, 0]lin[1e-3, 2]" }, epochs: 2 }]);
  await eventually("B to finish the next run", async () => {
    const r = await runRow(next!);
    return r.state === "succeeded" && r.worker_id === b.id;
  }, 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}; B's log:\n${b.output().split("\n").slice(-40).join("\n")}`);
  });
  assert.equal(b.child.exitCode, null);
  console.log(
    `# multihost partition: lease expiry seen ${detectMs} ms after the cut, C resumed after ${resumeMs} ms ` +
      `(LEASE_S ${LEASE_S}); link back → B fenced and abandoned after ${fencedMs} ms (${abandoned.replace(/^.*abandoned, /, "")})`,
  );
  await stopWorkers([b]);
});
