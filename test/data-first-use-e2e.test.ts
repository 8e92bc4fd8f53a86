// Issue 14, data on first use, with real processes: the API (Deno), real workers (TRAINER=real on the
// wasm backend) and a local HTTP server standing in for the data set's home. Two workers sharing a
// machine (one DATA_DIR) get one run each that needs Fashion-MNIST, which no folder holds: the files
// are fetched once (the server counts requests), both runs train and succeed, and each run's stream
// and each worker's log say where the data came from. A run whose data cannot be fetched fails at once
// with `invalid_data` instead of being retried as a crash.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { createApiToken } from "../shared/api-tokens.ts";
import { FASHION_MNIST_FILES } from "../worker/data/read-fashion-mnist.ts";
import { type FileServer, makeFashionMnistFiles, serveFiles } from "../worker/data/test-fixtures/fashion-mnist-files.ts";
import { type ApiProcess, readRunStream, startApi, submitRun, waitForRunEnd } from "./helpers/api-process.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

let db: TestDatabase;
let api: ApiProcess;
let files: FileServer;
let dir: string;
let submitToken: string;
let readToken: string;
let workerToken: string;
const workers: WorkerProcess[] = [];
const fixture = makeFashionMnistFiles({ train: 200, test: 50 });

/** A tiny real run: depth 11, 160 training images of the fixture, one epoch. */
const SPEC = {
  model: { depth: 11 },
  data: { dataset: "fashion-mnist", trainSize: 200, validationSize: 40 },
  batchSize: 32,
  schedule: "[1e-3, 0]lin[1e-3, 1]",
  maxAttempts: 3,
};

before(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "data-first-use-"));
  submitToken = (await createApiToken(db.sql, { name: "e2e submit", scopes: ["submit", "read"] })).token;
  readToken = (await createApiToken(db.sql, { name: "e2e read", scopes: ["read"] })).token;
  workerToken = (await createApiToken(db.sql, { name: "e2e worker", scopes: ["worker"] })).token;
  api = await startApi(db.url);
  // Each file's body is held back 300 ms, so the second worker asks while the first is still fetching.
  files = await serveFiles(fixture.bytes, { delayMs: 300 });
});

after(async () => {
  await stopWorkers(workers);
  await api?.stop();
  await files?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function worker(id: string, env: Record<string, string>): Promise<WorkerProcess> {
  const w = startWorker({
    DATABASE_URL: db.url,
    API_URL: api.url,
    WORKER_TOKEN: workerToken,
    TRAINER: "real",
    BACKEND: "wasm",
    FASHION_MNIST_SYSTEM_DIR: path.join(dir, "no-system-copy"), // never Debian's copy: these workers must fetch
    FASHION_MNIST_MD5: fixture.md5Env,
    ...env,
  }, id);
  workers.push(w);
  await w.waitFor(/ready/, 60_000);
  return w;
}

test("two workers on one machine fetch a missing data set once; both runs train on it, and say so on the stream", { timeout: 240_000 }, async () => {
  const env = { DATA_DIR: path.join(dir, "shared-machine"), FASHION_MNIST_URL: files.url };
  const [a, b] = await Promise.all([worker("machine-1-a", env), worker("machine-1-b", env)]);
  const runIds = await Promise.all([submitRun(api.url, submitToken, SPEC), submitRun(api.url, submitToken, SPEC)]);
  const ended = await Promise.all(runIds.map((id) => waitForRunEnd(api.url, readToken, id, 200_000)));
  for (const run of ended) assert.equal(run.state, "succeeded", JSON.stringify(run.error));

  // Fetched once: one request per file for two runs on two workers.
  assert.deepEqual(
    Object.fromEntries(Object.entries(files.requests).sort()),
    Object.fromEntries(Object.values(FASHION_MNIST_FILES).map((f) => [`/${f}`, 1]).sort()),
  );
  assert.deepEqual(
    (await readdir(path.join(env.DATA_DIR, "fashion-mnist"))).sort(),
    Object.values(FASHION_MNIST_FILES).sort(),
    "the four verified files, no .part and no lock left",
  );
  // Each run's stream tells where its data came from: one fetched it, the other found it (or waited).
  const dataEvents = await Promise.all(
    runIds.map(async (id) => (await readRunStream(api.url, readToken, id)).filter((m) => m.type === "data")),
  );
  const readySources = dataEvents.map((events) => events.find((e) => e.phase === "ready")?.source).sort();
  assert.deepEqual(readySources, ["fetched", "local"], JSON.stringify(dataEvents));
  const fetcher = dataEvents.find((events) => events.some((e) => e.source === "fetched"))!;
  assert.ok(fetcher.some((e) => e.phase === "download" && e.dataset === "fashion-mnist"), JSON.stringify(fetcher));
  assert.ok(fetcher.some((e) => e.phase === "verify"), JSON.stringify(fetcher));
  // And the logs.
  const logs = a.output() + b.output();
  assert.match(logs, /fashion-mnist data: download train-images-idx3-ubyte\.gz/);
  assert.match(logs, /fashion-mnist data: ready in .*fashion-mnist \(fetched\)/);
  const waited = dataEvents.some((events) => events.some((e) => e.phase === "waiting"));
  console.log(`second worker ${waited ? "waited for the first one's fetch" : "found the files already fetched"}`);
  await stopWorkers([a, b]);
});

test("a run whose data cannot be fetched fails at once with invalid_data, naming the cause, not retried", { timeout: 120_000 }, async () => {
  const w = await worker("machine-2", { DATA_DIR: path.join(dir, "machine-2"), FASHION_MNIST_URL: `${files.url}gone/` });
  const runId = await submitRun(api.url, submitToken, SPEC);
  const run = await waitForRunEnd(api.url, readToken, runId, 100_000);
  assert.equal(run.state, "failed");
  assert.equal(run.attempt, 1, "a data error is the run's own failure: no second attempt");
  assert.equal(run.error?.code, "invalid_data");
  assert.match(run.error!.message, /Cannot load the fashion-mnist data: Cannot fetch fashion-mnist into .*gone\/train-images-idx3-ubyte\.gz: HTTP 404/);
  assert.match(w.output(), /failed \(invalid_data\)/);
  await stopWorkers([w]);
});
