// Issue 7 end to end with real processes: the API (api/main.ts on Deno) and a worker process
// (TRAINER=fake) with API_URL and a worker-scope WORKER_TOKEN. A subscriber of GET /v1/runs/:id/stream
// gets `progress` messages (they exist only on the worker's socket) and every epoch. A worker whose
// API_URL leads nowhere trains the same run just as fast, and the subscriber still gets every durable
// event through Postgres NOTIFY.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { createApiToken } from "../shared/api-tokens.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { freePort } from "./helpers/free-port.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";
import { DENO_BINARY } from "../service/deno-binary.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EPOCHS = 3;
const FAKE = { TRAINER: "fake", FAKE_BATCHES: "60", FAKE_BATCH_MS: "20" };

let db: TestDatabase;
let dir: string;
let api: ChildProcess;
let apiUrl: string;
let readToken: string;
let workerToken: string;
const workers: WorkerProcess[] = [];

before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "stream-e2e-"));
  readToken = (await createApiToken(db.sql, { name: "e2e read", scopes: ["read"] })).token;
  workerToken = (await createApiToken(db.sql, { name: "e2e worker", scopes: ["worker"] })).token;
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  api = spawn(DENO_BINARY, ["run", "-A", "api/main.ts", "--stop-with-parent"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: db.url, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`${apiUrl}/healthz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || api.exitCode !== null) throw new Error("the API did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await stopWorkers(workers);
  if (api.exitCode === null) {
    const exited = new Promise((r) => api.once("exit", r));
    api.kill("SIGTERM");
    await exited;
  }
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

interface Watched {
  messages: Record<string, unknown>[];
  closeCode: number;
  /** Milliseconds from enqueue to the terminal state's arrival. */
  ms: number;
}

/** Enqueues one run, subscribes to it at once and collects everything until the server closes. */
async function watchOneRun(): Promise<Watched> {
  const t0 = performance.now();
  const [runId] = await enqueueRuns(db.sql, [{ spec: { schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]` }, epochs: EPOCHS }]);
  const socket = new WebSocket(`${apiUrl.replace("http:", "ws:")}/v1/runs/${runId}/stream?after=0`, {
    headers: { authorization: `Bearer ${readToken}` },
  });
  const messages: Record<string, unknown>[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  const closeCode = await new Promise<number>((resolve, reject) => {
    socket.once("close", (code) => resolve(code));
    socket.once("error", reject);
  });
  return { messages, closeCode, ms: performance.now() - t0 };
}

async function worker(id: string, env: Record<string, string>): Promise<WorkerProcess> {
  const w = startWorker({ DATABASE_URL: db.url, CHECKPOINT_DIR: dir, ...FAKE, ...env }, id);
  workers.push(w);
  await w.waitFor(/ready/, 30_000);
  return w;
}

const epochsOf = (w: Watched) => w.messages.filter((m) => m.type === "epoch").map((m) => m.epoch);
const statesOf = (w: Watched) => w.messages.filter((m) => m.type === "state").map((m) => m.state);
const progressOf = (w: Watched) => w.messages.filter((m) => m.type === "progress");

let connectedMs = 0;

test("a worker with API_URL and WORKER_TOKEN: the subscriber gets progress (worker socket only) and every epoch", { timeout: 60_000 }, async () => {
  const w = await worker("e2e-connected", { API_URL: apiUrl, WORKER_TOKEN: workerToken });
  const watched = await watchOneRun();
  connectedMs = watched.ms;
  assert.equal(watched.closeCode, 1000);
  assert.deepEqual(epochsOf(watched), [1, 2, 3]);
  assert.ok(statesOf(watched).includes("running"), `states: ${statesOf(watched).join(", ")}`);
  assert.equal(statesOf(watched).at(-1), "succeeded");
  const progress = progressOf(watched);
  assert.ok(progress.length >= 3, `got ${progress.length} progress messages`);
  for (const p of progress) {
    assert.equal(p.batchesPerEpoch, 60);
    assert.equal(typeof p.acc, "number");
    assert.equal(typeof p.lr, "number");
  }
  // Durable seqs arrive once each, in order.
  const seqs = watched.messages.filter((m) => m.type !== "progress").map((m) => m.seq as number);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(seqs).size, seqs.length);
  await stopWorkers([w]);
});

test("a worker whose API_URL leads nowhere trains as fast, and every epoch still arrives via NOTIFY", { timeout: 60_000 }, async () => {
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const w = await worker("e2e-nowhere", { API_URL: nowhere, WORKER_TOKEN: workerToken });
  const watched = await watchOneRun();
  assert.equal(watched.closeCode, 1000);
  assert.deepEqual(epochsOf(watched), [1, 2, 3]);
  assert.equal(statesOf(watched).at(-1), "succeeded");
  assert.equal(progressOf(watched).length, 0, "progress travels only on the worker's socket");
  assert.match(w.output(), /worker stream: .*reconnecting with backoff/);
  // Not slowed: the same run takes about as long as with the socket up (3 × 60 batches × 20 ms ≈ 3.6 s).
  assert.ok(watched.ms < connectedMs * 1.5 + 1000, `${watched.ms.toFixed(0)} ms without the API, ${connectedMs.toFixed(0)} ms with it`);
  console.log(`run with the socket up: ${connectedMs.toFixed(0)} ms; with API_URL leading nowhere: ${watched.ms.toFixed(0)} ms`);
  await stopWorkers([w]);
});
